package install

import (
	"bytes"
	"testing"

	"github.com/meshlab/meshlab/internal/golden"
	"github.com/meshlab/meshlab/mesh/ca"
)

// The CA is a placeholder so the golden file is stable; real PEM comes from EnsureCA.
func testOptions() Options {
	return Options{Image: "meshlab.local/meshlab:test", CACertPEM: []byte("CA-CERT"), CAKeyPEM: []byte("CA-KEY"),
		MeshCA: ca.Bundle{CACert: []byte("MESH-CA-CERT"), CAKey: []byte("MESH-CA-KEY"), RootCert: []byte("MESH-ROOT-CERT")}}
}

func TestRenderGolden(t *testing.T) {
	objs, err := Render(testOptions())
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := WriteYAML(&got, objs); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/install.golden.yaml", got.Bytes())
}

func TestRenderNeedsCA(t *testing.T) {
	if _, err := Render(Options{}); err == nil {
		t.Fatal("Render without a CA succeeded")
	}
}
