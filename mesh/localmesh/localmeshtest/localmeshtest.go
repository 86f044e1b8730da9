// Package localmeshtest holds what every test that runs a local mesh needs: the skip rules (root,
// the tools, not -short), a directory its sidecars and applications can read, and the meshlab
// binary they run.
package localmeshtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Require skips t unless a local mesh can run here: not -short, root, and ip, iptables and
// setpriv installed.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs Bookinfo in network namespaces (drop -short)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and iptables: run as root or via .ci/run")
	}
	for _, tool := range []string{"ip", "iptables", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt packages iproute2, iptables, util-linux)", tool)
		}
	}
}

// Dir returns a new directory the pods can read. Not t.TempDir: its parent is private to root,
// and the sidecars (UID 1337) and applications (UID 65534) must read their config files. It is
// removed when the test passes and kept, with its logs, when it fails.
func Dir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pod logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// BuildMeshlab builds a static meshlab binary into dir and returns its path.
func BuildMeshlab(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "meshlab")
	build := exec.Command("go", "build", "-o", bin, "github.com/meshlab/meshlab/cmd/meshlab")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build meshlab: %v\n%s", err, out)
	}
	return bin
}
