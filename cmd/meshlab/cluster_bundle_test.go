package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/cluster/bundle"
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
