package inject

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshlab/meshlab/internal/golden"
)

// testOptions are fixed so golden files do not depend on the build's version.
func testOptions() Options { return DefaultOptions("v0.0.0-test") }

func legacyOptions() Options {
	o := testOptions()
	o.NativeSidecar = false
	return o
}

var goldenCases = []struct {
	in   string
	opts func() Options
}{
	{"bookinfo.yaml", testOptions},
	{"job.yaml", testOptions},
	{"cronjob.yaml", testOptions},
	{"list.yaml", testOptions},
	{"exclusions.yaml", testOptions},
	{"optout.yaml", testOptions},
	{"legacy.yaml", legacyOptions},
}

func goldenName(in string) string { return strings.TrimSuffix(in, ".yaml") + ".injected.yaml" }

func TestManifestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.in, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := Manifest(tc.in, in, tc.opts())
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", goldenName(tc.in)), got)
		})
	}
}

// TestManifestIdempotent: injecting an injected manifest is a byte-for-byte no-op.
func TestManifestIdempotent(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.in, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tc.in))
			if err != nil {
				t.Fatal(err)
			}
			once, _, err := Manifest(tc.in, in, tc.opts())
			if err != nil {
				t.Fatal(err)
			}
			twice, outcomes, err := Manifest(tc.in, once, tc.opts())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(once, twice) {
				t.Errorf("second injection changed the output:\n%s", cmp.Diff(string(once), string(twice)))
			}
			for _, o := range outcomes {
				if o.Skip == "" {
					t.Errorf("%v: injected again", o)
				}
			}
		})
	}
}

func TestManifestOutcomes(t *testing.T) {
	in, err := os.ReadFile("testdata/bookinfo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, outcomes, err := Manifest("bookinfo.yaml", in, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range outcomes {
		if o.Skip != "" || o.Kind != "Deployment" {
			t.Errorf("unexpected outcome %v", o)
		}
		names = append(names, o.Name)
	}
	want := []string{"details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("injected workloads (-want +got):\n%s", diff)
	}

	in, err = os.ReadFile("testdata/optout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, outcomes, err := Manifest("optout.yaml", in, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in, out) {
		t.Error("opted-out manifest changed")
	}
	wantSkips := []string{SkipOptedOut, SkipOptedOut, SkipHostNetwork, SkipAlreadyInjected}
	var skips []string
	for _, o := range outcomes {
		skips = append(skips, o.Skip)
	}
	if diff := cmp.Diff(wantSkips, skips); diff != "" {
		t.Errorf("skip reasons (-want +got):\n%s", diff)
	}
}

// TestManifestPassThrough: documents that are not workloads are copied byte for byte, with their
// separators and comments, whatever their formatting.
func TestManifestPassThrough(t *testing.T) {
	in := []byte("# leading comment\n---\napiVersion: v1\nkind: ConfigMap   # odd spacing kept\nmetadata: {name: x}\ndata:\n  z: '1'\n  a: \"2\"\n--- # sep comment\n\n---\n- just\n- a list\n---\nscalar\n")
	out, outcomes, err := Manifest("-", in, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in, out) {
		t.Errorf("pass-through changed:\n%s", cmp.Diff(string(in), string(out)))
	}
	if len(outcomes) != 0 {
		t.Errorf("outcomes for non-workloads: %v", outcomes)
	}
}

func TestManifestErrorsNamePlace(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"bad yaml": {"apiVersion: v1\nkind: Pod\n---\nkind: [unclosed\n", "f.yaml:4:"},
		"bad annotation": {"kind: ConfigMap\n---\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    traffic.sidecar.istio.io/excludeOutboundPorts: \"http\"\nspec:\n  containers: [{name: a, image: b}]\n",
			"f.yaml:3: Pod p: annotation traffic.sidecar.istio.io/excludeOutboundPorts"},
		"no template":    {"kind: Deployment\nmetadata: {name: d}\nspec: {}\n", "Deployment d: no pod template at /spec/template"},
		"wrong type":     {"kind: Pod\nmetadata: {name: p}\nspec: {containers: 3}\n", "Pod p: pod template"},
		"name collision": {"kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: meshlab-proxy, image: x}]}\n", `container "meshlab-proxy" already exists`},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Manifest("f.yaml", []byte(tc.in), testOptions())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
