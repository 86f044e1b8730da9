// Command meshlab-graphviz draws Graphviz source read from standard input as SVG or PNG on
// standard output: `meshlab mesh graph --output svg|png` runs it. It is its own binary so that
// meshlab does not link go-graphviz (see addons/graph/picture for why); `make build` puts it
// next to meshlab.
//
//	meshlab-graphviz svg|png < graph.dot > graph.svg
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/meshlab/meshlab/addons/graph/picture"
)

func main() {
	if len(os.Args) != 2 || (os.Args[1] != string(picture.SVG) && os.Args[1] != string(picture.PNG)) {
		fmt.Fprintln(os.Stderr, "usage: meshlab-graphviz svg|png < graph.dot > picture")
		os.Exit(2)
	}
	dot, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshlab-graphviz: read the graph:", err)
		os.Exit(1)
	}
	out, err := picture.Render(context.Background(), string(dot), picture.Format(os.Args[1]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshlab-graphviz:", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		fmt.Fprintln(os.Stderr, "meshlab-graphviz: write:", err)
		os.Exit(1)
	}
}
