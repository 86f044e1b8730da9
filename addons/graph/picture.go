package graph

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

// Render lays the graph out with Graphviz (compiled to WebAssembly and run in-process by
// go-graphviz, so the static binary needs no Graphviz installed) and draws it as SVG or PNG.
func Render(ctx context.Context, g Graph, f Format) ([]byte, error) {
	return RenderDOT(ctx, DOT(g), f)
}

// RenderDOT draws Graphviz source as SVG or PNG.
func RenderDOT(ctx context.Context, dot string, f Format) ([]byte, error) {
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
