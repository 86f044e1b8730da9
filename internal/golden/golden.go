// Package golden compares a test's output with a golden file, or rewrites the file when the
// tests run with -update (`go test ./some/pkg -update`). Every package's golden tests use it, so
// one flag refreshes them all and a mismatch always reads the same: the file, then a line diff.
//
// It is not github.com/charmbracelet/x/exp/golden, which names each file after its test and
// registers the same flag: meshlab's golden files are named after what they hold (and several
// tests share one), and the wizard's tests, which use teatest and so that package, keep it.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

// Update reports whether the tests run with -update: for a test that compares in its own way
// (decoded rather than byte for byte) and only needs Read and Write.
func Update() bool { return *update }

// Check compares got with the golden file at path (relative to the package's directory, as
// testdata/NAME). With -update it writes got to path instead. A mismatch is an error (the test
// goes on) showing a diff of the lines, -want +got; a missing file stops the test.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		Write(t, path, got)
		return
	}
	want := Read(t, path)
	if string(want) == string(got) {
		return
	}
	t.Errorf("%s differs from the output (-want +got; rerun with -update if the change is intended):\n%s",
		path, LineDiff(string(want), string(got)))
}

// LineDiff is want and got compared line by line (each line with its newline, so a missing
// final newline shows), -want +got, with runs of equal lines elided.
func LineDiff(want, got string) string {
	return cmp.Diff(strings.SplitAfter(want, "\n"), strings.SplitAfter(got, "\n"))
}

// Read returns the golden file at path, stopping the test with how to create it when it is missing.
func Read(t testing.TB, path string) []byte {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run the test with -update to create it)", err)
	}
	return want
}

// Write writes the golden file at path, creating its directory.
func Write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("golden file: %v", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("golden file: %v", err)
	}
}
