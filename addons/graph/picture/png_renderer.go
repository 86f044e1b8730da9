package picture

import (
	"context"

	"github.com/goccy/go-graphviz"
	"github.com/goccy/go-graphviz/gvc"
)

// go-graphviz v0.2.10 draws PNG with its own Go renderer (Graphviz's WebAssembly build has no
// bitmap output), and its bridge passes the "filled" argument of ellipse, polygon and bezier
// calls with garbage in the upper bits, so every shape arrives as filled: edges, borders and
// outlines vanish (a filled hairline). strokeRenderer decides from the object's own state
// instead: a shape is filled when Graphviz set a fill style, or (arrowheads) when its fill
// colour is its pen colour; every shape gets its outline stroked unless the pen is off.
// TestPNGDrawsEdges fails if this is removed or a go-graphviz upgrade changes the behaviour.
type strokeRenderer struct {
	*gvc.ImageRenderer
}

func pngPlugins(ctx context.Context) ([]graphviz.Plugin, error) {
	r := &strokeRenderer{ImageRenderer: &gvc.ImageRenderer{DefaultRenderEngine: new(gvc.DefaultRenderEngine)}}
	render, err := gvc.NewRenderPlugin(ctx, "png", r)
	if err != nil {
		return nil, err
	}
	device, err := gvc.PNGDevicePlugin(ctx)
	if err != nil {
		return nil, err
	}
	return []graphviz.Plugin{render, device}, nil
}

func sameColour(a, b *gvc.Color) bool { return a.RGBAUint() == b.RGBAUint() }

// fills says whether Graphviz meant the current shape to be filled.
func fills(job *gvc.Job, arrowLike bool) bool {
	o := job.Object()
	if o.Fill() != gvc.FillNone {
		return true
	}
	return arrowLike && sameColour(o.FillColor(), o.PenColor())
}

func strokes(job *gvc.Job) bool {
	o := job.Object()
	return o.Pen() != gvc.PenNone && o.PenColor().RGBAUint()[3] > 0
}

func (r *strokeRenderer) Ellipse(ctx context.Context, job *gvc.Job, p []*gvc.PointFloat, _ bool) error {
	if fills(job, false) {
		if err := r.ImageRenderer.Ellipse(ctx, job, p, true); err != nil {
			return err
		}
	}
	if strokes(job) {
		return r.ImageRenderer.Ellipse(ctx, job, p, false)
	}
	return nil
}

func (r *strokeRenderer) Polygon(ctx context.Context, job *gvc.Job, p []*gvc.PointFloat, _ bool) error {
	if fills(job, true) {
		if err := r.ImageRenderer.Polygon(ctx, job, p, true); err != nil {
			return err
		}
	}
	if strokes(job) {
		return r.ImageRenderer.Polygon(ctx, job, p, false)
	}
	return nil
}

func (r *strokeRenderer) BezierCurve(ctx context.Context, job *gvc.Job, p []*gvc.PointFloat, _ bool) error {
	if fills(job, false) {
		if err := r.ImageRenderer.BezierCurve(ctx, job, p, true); err != nil {
			return err
		}
	}
	if strokes(job) {
		return r.ImageRenderer.BezierCurve(ctx, job, p, false)
	}
	return nil
}
