// Package picture draws Graphviz source as SVG or PNG with go-graphviz: Graphviz compiled to
// WebAssembly and run in-process by wazero, so nothing needs installing and no cgo is needed.
//
// It lives apart from addons/graph, and only cmd/meshlab-graphviz links it, because go-graphviz
// compiles and instantiates its 1.5 MB WebAssembly module in a package init: every process
// that links it pays ~20 MB of memory and 50 ms (a second without a writable $TMPDIR cache) at
// start-up, and panics when $TMPDIR/go-graphviz belongs to another user. meshlab's binary runs
// as the control plane, gateway, Bookinfo and (in local meshes) sidecars, as other UIDs, so it
// must not link it.
package picture

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"

	"github.com/goccy/go-graphviz"
)

// Format is a picture format of Render.
type Format string

const (
	SVG Format = "svg"
	PNG Format = "png"
)

// Render lays Graphviz source out (dot) and draws it as SVG or PNG.
func Render(ctx context.Context, dot string, f Format) ([]byte, error) {
	switch f {
	case SVG:
		return renderWith(ctx, dot, graphviz.SVG, nil)
	case PNG:
		plugins, err := pngPlugins(ctx)
		if err != nil {
			return nil, err
		}
		return renderWith(ctx, dot, graphviz.PNG, plugins)
	}
	return nil, fmt.Errorf("picture format %q: want svg or png", f)
}

func renderWith(ctx context.Context, dot string, f graphviz.Format, plugins []graphviz.Plugin) ([]byte, error) {
	var gv *graphviz.Graphviz
	var err error
	if plugins == nil {
		gv, err = graphviz.New(ctx)
	} else {
		gv, err = graphviz.NewWithPlugins(ctx, plugins...)
	}
	if err != nil {
		return nil, fmt.Errorf("start graphviz: %w", err)
	}
	defer gv.Close()
	gr, err := graphviz.ParseBytes([]byte(dot))
	if err != nil {
		return nil, fmt.Errorf("graphviz: parse the graph: %w", err)
	}
	defer gr.Close()
	if f == graphviz.PNG {
		img, err := gv.RenderImage(ctx, gr)
		if err != nil {
			return nil, fmt.Errorf("graphviz: draw png: %w", err)
		}
		return encodeOnWhite(img)
	}
	var buf bytes.Buffer
	if err := gv.Render(ctx, gr, f, &buf); err != nil {
		return nil, fmt.Errorf("graphviz: draw %s: %w", f, err)
	}
	return buf.Bytes(), nil
}

// encodeOnWhite flattens the drawing onto white: the renderer leaves the page transparent,
// which shows black-on-black in dark image viewers.
func encodeOnWhite(img image.Image) ([]byte, error) {
	out := image.NewRGBA(img.Bounds())
	draw.Draw(out, out.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Over)
	var buf bytes.Buffer
	if err := png.Encode(&buf, out); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}
