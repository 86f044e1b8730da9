package config

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/internal/golden"
)

// TestGoldenSamples compiles each upstream Istio sample, unchanged, on top of the Bookinfo
// registry (and destination-rule-all, as Istio's tasks apply it first) and compares the table dump.
func TestGoldenSamples(t *testing.T) {
	samples, err := filepath.Glob("testdata/istio-samples/*.yaml")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, sample := range samples {
		name := strings.TrimSuffix(filepath.Base(sample), ".yaml")
		t.Run(name, func(t *testing.T) {
			files := []string{"testdata/bookinfo-registry.yaml", "testdata/istio-samples/destination-rule-all.yaml", sample}
			checkGolden(t, name, files...)
		})
	}
	t.Run("legacy-routerules", func(t *testing.T) {
		checkGolden(t, "legacy-routerules", "testdata/bookinfo-registry.yaml", "testdata/legacy-routerules.yaml")
	})
}

func checkGolden(t *testing.T, name string, files ...string) {
	t.Helper()
	snap, err := Load(files...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	table, err := Compile(snap)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	var got bytes.Buffer
	if err := table.Dump(&got); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", name+".golden"), got.Bytes())
}
