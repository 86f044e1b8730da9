package analyze

import (
	"bytes"
	"testing"

	"github.com/meshlab/meshlab/internal/golden"
)

func TestAnalyzeFiles(t *testing.T) {
	cases := []struct {
		name, file string
		errors     int
	}{
		{"good", "testdata/good.yaml", 0},
		{"mistakes", "testdata/mistakes.yaml", 3},
		{"policies", "testdata/policies.yaml", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := FromFiles("testdata/services.yaml", c.file)
			if err != nil {
				t.Fatal(err)
			}
			ms := Analyze(st)
			var got bytes.Buffer
			if err := Write(&got, ms); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "testdata/"+c.name+".golden", got.Bytes())
			if n := Errors(ms); n != c.errors {
				t.Fatalf("%d errors, want %d:\n%s", n, c.errors, got.String())
			}
		})
	}
}

func TestFQDN(t *testing.T) {
	cases := map[string]string{
		"reviews":                           "reviews.bookinfo.svc.cluster.local",
		"reviews.default":                   "reviews.default.svc.cluster.local",
		"reviews.default.svc":               "reviews.default.svc.cluster.local",
		"reviews.default.svc.cluster.local": "reviews.default.svc.cluster.local",
		"*.default.svc.cluster.local":       "*.default.svc.cluster.local",
	}
	for in, want := range cases {
		if got := fqdn(in, "bookinfo"); got != want {
			t.Errorf("fqdn(%q) = %q, want %q", in, got, want)
		}
	}
}

// A file's VirtualService replaces the cluster's of the same name, as `kubectl apply` would.
func TestOverlayReplacesByName(t *testing.T) {
	cluster, err := FromFiles("testdata/services.yaml", "testdata/mistakes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files, err := FromFiles("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ms := Analyze(Overlay(cluster, files))
	for _, m := range ms {
		if m.Resource == "VirtualService default/reviews" {
			t.Fatalf("the cluster's reviews VirtualService was not replaced: %s", m)
		}
	}
}
