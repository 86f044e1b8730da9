package inventory

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser: it must never panic or hang, and it must return
// either a usable lab or a report whose every problem names the file.
//
//	go test ./provision/inventory -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	for _, path := range []string{"../../examples/hosts.yaml", "../../examples/hosts-minimal.yaml", "testdata/broken.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"hosts: [root@10.0.0.1]\n",
		"- root@[::1]:2222 control-plane\n- ubuntu@node2 worker\n",
		"x: &a {<<: *a}\nhosts: [a]\n",
		"a: &a [*a, *a]\nb: &b [*a, *a]\nhosts: [*b]\n",
		"hosts:\n  - {address: 10.0.0.1, password: {env: X, file: y}, labels: {a/b/c: d}}\n",
		"network: {podCIDR: '::/0', serviceCIDR: 0.0.0.0/0}\nhosts: ['@']\n",
		"versions: {kubernetes: {version: v1.2.3}, docker: [1]}\nhosts: [{<<: [{port: 1}]}]\n",
		"\t\x00\xff: [",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lab, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			for _, p := range ve.Problems {
				if p.File != "fuzz.yaml" || p.Message == "" {
					t.Fatalf("incomplete problem: %#v", p)
				}
			}
			return
		}
		if lab == nil || len(lab.Hosts) == 0 || len(lab.ControlPlanes()) == 0 {
			t.Fatalf("accepted a lab without hosts or control plane: %+v", lab)
		}
		for _, h := range lab.Hosts {
			if h.Port < 1 || h.Port > 65535 || h.Address == "" || h.Name == "" {
				t.Fatalf("accepted a bad host: %+v", h)
			}
		}
	})
}
