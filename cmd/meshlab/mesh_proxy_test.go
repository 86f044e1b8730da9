package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/mesh/proxy"
)

func runMeshProxy(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"mesh", "proxy"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestMeshProxyDump(t *testing.T) {
	out, err := runMeshProxy(t, "--dump",
		"--config", "../../mesh/config/testdata/bookinfo-registry.yaml",
		"--config", "../../mesh/config/testdata/istio-samples/destination-rule-all.yaml",
		"--config", "../../mesh/config/testdata/istio-samples/virtual-service-reviews-test-v2.yaml")
	if err != nil {
		t.Fatalf("--dump: %v\n%s", err, out)
	}
	for _, want := range []string{"host reviews.default.svc.cluster.local:9080", `match header End-User exact "jason"`,
		"-> outbound|9080|v2|reviews.default.svc.cluster.local"} {
		if !strings.Contains(out, want) {
			t.Errorf("dump lacks %q:\n%s", want, out)
		}
	}
}

func TestMeshProxyBadInput(t *testing.T) {
	var ue usageError
	if _, err := runMeshProxy(t); !errors.As(err, &ue) {
		t.Errorf("no --config: %v, want a usage error (exit 2)", err)
	}
	if _, err := runMeshProxy(t, "--dump", "--config", "/nonexistent.yaml"); !errors.As(err, &ue) {
		t.Errorf("missing file: %v, want a usage error (exit 2)", err)
	}
}

func TestMeshProxyRefusesRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("checks the root refusal; needs to run as root (as CI does)")
	}
	_, err := runMeshProxy(t, "--config", "../../mesh/config/testdata/bookinfo-registry.yaml")
	if !errors.Is(err, proxy.ErrRunningAsRoot) {
		t.Errorf("as root without --allow-root: %v, want ErrRunningAsRoot", err)
	}
}
