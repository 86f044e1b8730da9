package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// TestSidecarCommands checks that the slim binary serves the same commands as `meshlab mesh
// proxy` and `meshlab mesh init` (both are built by mesh/proxy/sidecarcmd) and exits 2 on bad input.
func TestSidecarCommands(t *testing.T) {
	out, err := run(t, "init", "--dry-run", "-o", "22")
	if err != nil || !strings.Contains(out, "iptables -t nat -A MESHLAB_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n") {
		t.Fatalf("init --dry-run: %v\n%s", err, out)
	}
	out, err = run(t, "proxy", "--dump",
		"--config", "../../mesh/config/testdata/bookinfo-registry.yaml",
		"--config", "../../mesh/config/testdata/istio-samples/virtual-service-all-v1.yaml")
	if err != nil || !strings.Contains(out, "host reviews.default.svc.cluster.local:9080") {
		t.Fatalf("proxy --dump: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"proxy"}, {"init", "-p", "abc", "--dry-run"}, {"proxy", "--no-such-flag"}} {
		var ue usageError
		if _, err := run(t, args...); !errors.As(err, &ue) {
			t.Errorf("%v: error %v is not bad input (exit 2)", args, err)
		}
	}
}
