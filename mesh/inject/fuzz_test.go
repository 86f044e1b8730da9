package inject

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzManifest: any input either fails with an error or gives YAML that parses document by
// document and that a second injection leaves byte for byte unchanged. Never a panic.
//
//	go test ./mesh/inject -run '^$' -fuzz FuzzManifest -fuzztime 60s
func FuzzManifest(f *testing.F) {
	for _, tc := range goldenCases {
		if in, err := os.ReadFile(filepath.Join("testdata", tc.in)); err == nil {
			f.Add(in)
		}
	}
	f.Add([]byte("kind: Pod\n"))
	f.Add([]byte("kind: List\nitems: [{kind: Pod}, 3, {kind: CronJob, spec: {jobTemplate: {spec: {template: {}}}}}]\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		o := testOptions()
		out, _, err := Manifest("fuzz", in, o)
		if err != nil {
			return
		}
		again, outcomes, err := Manifest("fuzz", out, o)
		if err != nil {
			t.Fatalf("injected output does not inject again: %v\ninput:\n%s\noutput:\n%s", err, in, out)
		}
		if !bytes.Equal(out, again) {
			t.Fatalf("second injection changed the output\ninput:\n%q\nonce:\n%q\ntwice:\n%q", in, out, again)
		}
		for _, oc := range outcomes {
			if oc.Skip == "" {
				t.Fatalf("injected twice: %v", oc)
			}
		}
		for _, d := range splitDocuments(out) {
			if _, err := yaml.YAMLToJSON(d.body); err != nil {
				t.Fatalf("output document at line %d does not parse: %v", d.line, err)
			}
		}
	})
}
