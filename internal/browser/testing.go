package browser

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// ForTest starts a browser for t (see Start for allow) and closes it when t ends. Without
// Chromium t is skipped with the reason (CI installs it: tools/install-deps.sh, where a skip
// fails the run).
func ForTest(t testing.TB, allow ...string) *Browser {
	t.Helper()
	if _, err := Path(); err != nil {
		t.Skipf("needs headless Chromium: %v", err)
	}
	b, err := Start(context.Background(), allow...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// Artifact is the path of a file a test keeps for people to look at (a screenshot), under
// _output/test-artifacts/<test name>/ of the module the test runs in.
func Artifact(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	safe := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	return filepath.Join(dir, "_output", "test-artifacts", safe, name)
}
