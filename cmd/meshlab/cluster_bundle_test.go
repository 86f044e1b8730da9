package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/provision/versions"
)

func runBundleCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"cluster", "bundle"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestClusterBundleVerify(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "kubeadm"), []byte("kubeadm"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{Schema: bundle.Schema, Source: "source", Versions: map[string]string{"kubernetes": "v1.34.2"}}
	if err := m.Index(dir); err != nil {
		t.Fatal(err)
	}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	out, err := runBundleCmd(t, "verify", dir)
	if err != nil || !strings.Contains(out, "1 files") || !strings.Contains(out, "v1.34.2") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "kubeadm"), []byte("evil"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runBundleCmd(t, "verify", dir); err == nil || !strings.Contains(err.Error(), "bin/kubeadm") {
		t.Fatalf("tampered bundle: err = %v", err)
	}
}

func TestClusterBundleBuildNeedsOut(t *testing.T) {
	_, err := runBundleCmd(t, "build", "--from-source")
	var ue usageError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want a usage error (exit 2)", err)
	}
	_, err = runBundleCmd(t, "build", "--from-source", "--out", t.TempDir(), "--source-dir", filepath.Join(t.TempDir(), "nope"))
	if !errors.As(err, &ue) {
		t.Fatalf("missing --source-dir: err = %v, want a usage error", err)
	}
}

// TestClusterBundleBuildFallsBackToSource: when an upstream host does not answer the probe (here
// a closed port on loopback stands for all of them), the build goes from source and says why.
func TestClusterBundleBuildFallsBackToSource(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/v2/"
	l.Close()
	oldProbe, oldBuild := probeURLs, buildFromSource
	t.Cleanup(func() { probeURLs, buildFromSource = oldProbe, oldBuild })
	probeURLs = func([]versions.Download, []string, bundle.Puller) []string { return []string{closed} }
	var built bundle.SourceOptions
	buildFromSource = func(_ context.Context, o bundle.SourceOptions) (*bundle.Result, error) {
		built = o
		m := &bundle.Manifest{Schema: bundle.Schema, Source: bundle.SourceFromSource}
		return &bundle.Result{Dir: o.Out, Manifest: m}, nil
	}
	out := t.TempDir()
	src := t.TempDir()
	log, err := runBundleCmd(t, "build", "--fallback-from-source", "--probe-timeout", "2s", "--source-dir", src, "--out", out)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log)
	}
	if built.Out != out || built.SourceDir != src {
		t.Errorf("the source build was not run for %s: %+v", out, built)
	}
	for _, want := range []string{"building the bundle from source instead", closed} {
		if !strings.Contains(log, want) {
			t.Errorf("the output does not say %q:\n%s", want, log)
		}
	}
}

func TestClusterBundleBuildRegistryMirrorFlag(t *testing.T) {
	_, err := runBundleCmd(t, "build", "--out", t.TempDir(), "--registry-mirror", "registry.k8s.io")
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "UPSTREAM=URL") {
		t.Fatalf("err = %v, want a usage error naming the form", err)
	}
}
