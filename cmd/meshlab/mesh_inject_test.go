package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/mesh/inject"
)

const injectTestdata = "../../mesh/inject/testdata"

func runMeshlab(t *testing.T, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetIn(bytes.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// TestMeshInjectMatchesLibraryGolden: the command prints exactly the library's golden output.
func TestMeshInjectMatchesLibraryGolden(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(injectTestdata, "bookinfo.injected.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile(filepath.Join(injectTestdata, "bookinfo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{filepath.Join(injectTestdata, "bookinfo.yaml"), "-"} {
		out, _, err := runMeshlab(t, in, "mesh", "inject", "-f", file, "--image", "meshlab.local/meshlab:v0.0.0-test")
		if err != nil {
			t.Fatalf("-f %s: %v", file, err)
		}
		if out != string(want) {
			t.Errorf("-f %s: output differs from mesh/inject/testdata/bookinfo.injected.yaml", file)
		}
	}
}

// TestInjectedInitArgsParse runs the injected init container's arguments through the real
// `meshlab mesh init --dry-run`, so the two commands cannot drift apart.
func TestInjectedInitArgsParse(t *testing.T) {
	for _, name := range []string{"bookinfo.injected.yaml", "exclusions.injected.yaml", "legacy.injected.yaml"} {
		b, err := os.ReadFile(filepath.Join(injectTestdata, name))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, doc := range strings.Split(string(b), "\n---\n") {
			for _, c := range initContainersOf(t, doc) {
				if c.Name != "meshlab-init" {
					continue
				}
				n++
				// The init container runs the sidecar binary's `init`, whose flags are meshlab mesh
				// init's (one wiring, mesh/proxy/sidecarcmd).
				if len(c.Command) != 1 || c.Command[0] != inject.ProxyBinaryPath || c.Args[0] != "init" {
					t.Fatalf("%s: init container runs %v %v", name, c.Command, c.Args)
				}
				args := append(append([]string{"mesh"}, c.Args...), "--dry-run", "--iptables", "legacy")
				out, _, err := runMeshlab(t, nil, args...)
				if err != nil || !strings.Contains(out, "-j REDIRECT --to-ports 15001") {
					t.Errorf("%s: meshlab %s: %v\n%s", name, strings.Join(args, " "), err, out)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no meshlab-init container found", name)
		}
	}
}

func initContainersOf(t *testing.T, doc string) []corev1.Container {
	t.Helper()
	var obj struct {
		Kind string
		Spec struct {
			corev1.PodSpec `json:",inline"`
			Template       *corev1.PodTemplateSpec `json:"template"`
		}
	}
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Spec.Template != nil {
		return obj.Spec.Template.Spec.InitContainers
	}
	return obj.Spec.InitContainers
}

func TestMeshInjectBadInputExit2(t *testing.T) {
	for _, args := range [][]string{
		{"mesh", "inject"},
		{"mesh", "inject", "-f", "/nonexistent/file.yaml"},
		{"mesh", "inject", "-f", "-", "--native-sidecar", "maybe"},
	} {
		_, _, err := runMeshlab(t, []byte("kind: Pod\n"), args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: error %v is not bad input (exit 2)", args, err)
		}
	}
	_, _, err := runMeshlab(t, []byte("kind: Pod\nmetadata:\n  annotations:\n    traffic.sidecar.istio.io/excludeOutboundPorts: x\n"), "mesh", "inject", "-f", "-")
	if err == nil || !strings.Contains(err.Error(), "-:1: Pod : annotation traffic.sidecar.istio.io/excludeOutboundPorts") {
		t.Errorf("bad annotation: %v", err)
	}
}

func TestMeshInjectReportsSkips(t *testing.T) {
	in, err := os.ReadFile(filepath.Join(injectTestdata, "optout.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runMeshlab(t, in, "mesh", "inject", "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(in) {
		t.Error("opted-out manifest changed")
	}
	if !strings.Contains(stderr, "DaemonSet node-agent: skipped: uses the host network") {
		t.Errorf("stderr lacks the host-network skip:\n%s", stderr)
	}
}

func TestMeshWebhookPrintConfigUsesTheCA(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runMeshlab(t, nil, "mesh", "webhook", "--print-config", "--ca-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, base64.StdEncoding.EncodeToString(caPEM)) {
		t.Error("caBundle is not the CA written to --ca-dir")
	}
	again, _, err := runMeshlab(t, nil, "mesh", "webhook", "--print-config", "--ca-dir", dir)
	if err != nil || again != out {
		t.Errorf("second run changed the configuration (a new CA?): %v", err)
	}
}

func TestMeshWebhookNeedsCADir(t *testing.T) {
	_, _, err := runMeshlab(t, nil, "mesh", "webhook", "--native-sidecar", "true")
	var ue usageError
	if !errors.As(err, &ue) {
		t.Errorf("error %v is not bad input (exit 2)", err)
	}
}

func TestMeshWaitAgainstReadyServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	if _, _, err := runMeshlab(t, nil, "mesh", "wait", "--url", srv.URL, "--timeout", "30s"); err != nil {
		t.Fatal(err)
	}
}
