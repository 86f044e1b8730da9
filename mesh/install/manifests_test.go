package install

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The CA is a placeholder so the golden file is stable; real PEM comes from EnsureCA.
func testOptions() Options {
	return Options{Image: "meshlab.local/meshlab:test", CACertPEM: []byte("CA-CERT"), CAKeyPEM: []byte("CA-KEY")}
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
	const path = "testdata/install.golden.yaml"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("rendered install differs from %s (go test -update to accept):\n%s", path, got.String())
	}
}

func TestRenderNeedsCA(t *testing.T) {
	if _, err := Render(Options{}); err == nil {
		t.Fatal("Render without a CA succeeded")
	}
}
