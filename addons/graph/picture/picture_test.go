package picture

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"strings"
	"testing"
)

// dot is a small service graph as addons/graph writes it.
const dot = `digraph mesh {
  graph [rankdir=LR, label="service graph"];
  node [shape=box, style="rounded,filled", fillcolor="#e3f2fd", color="#1565c0"];
  subgraph cluster_0 { graph [label="default", style=rounded]; "productpage-v1.default" [label="productpage-v1"]; "ratings-v1.default" [label="ratings-v1"]; }
  "productpage-v1.default" -> "ratings-v1.default" [label="1.00 rps\nerr 25.0%\np99 1.50s", color="#c62828"];
}`

func TestRenderSVG(t *testing.T) {
	svg, err := Render(context.Background(), dot, SVG)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "productpage&#45;v1", "ratings&#45;v1", "1.00 rps", "err 25.0%"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("svg lacks %q", want)
		}
	}
}

// TestPNGDrawsEdges renders two boxes and an arrow between them and looks for the arrow's
// line between the boxes: go-graphviz's own PNG renderer leaves it out (see strokeRenderer).
func TestPNGDrawsEdges(t *testing.T) {
	b, err := Render(context.Background(), `digraph { rankdir=LR; nodesep=1; ranksep=2;
		node [shape=box, color="#0000ff", penwidth=2]; edge [color="#ff0000", penwidth=2];
		a -> b }`, PNG)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r := img.Bounds()
	// The row through the middle: blue (box borders) left and right, red (the edge) between.
	var red, blue int
	y := r.Min.Y + r.Dy()/2
	for x := r.Min.X; x < r.Max.X; x++ {
		switch c := rgb(img, x, y); {
		case c[0] > 200 && c[1] < 80 && c[2] < 80:
			red++
		case c[2] > 200 && c[0] < 80 && c[1] < 80:
			blue++
		}
	}
	if red < 20 {
		t.Errorf("the edge's line is missing: %d red pixels on the middle row of a %v image", red, r)
	}
	if blue < 2 {
		t.Errorf("the boxes' borders are missing: %d blue pixels on the middle row", blue)
	}
	if c := rgb(img, r.Min.X, r.Min.Y); c != [3]uint32{255, 255, 255} {
		t.Errorf("background = %v, want white", c)
	}
}

func rgb(img image.Image, x, y int) [3]uint32 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint32{r >> 8, g >> 8, b >> 8}
}

func TestRenderRejectsFormat(t *testing.T) {
	if _, err := Render(context.Background(), dot, "gif"); err == nil || !strings.Contains(err.Error(), "want svg or png") {
		t.Fatalf("gif: %v", err)
	}
}
