package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what Check reports instead of failing this test.
type recorder struct {
	testing.TB
	errors, fatals []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
	panic(r) // stops the check, as FailNow stops a test; run recovers it
}

// run calls check with a recorder and returns what it reported.
func run(t *testing.T, check func(testing.TB)) *recorder {
	t.Helper()
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		check(r)
	}()
	return r
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.golden")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, func(tb testing.TB) { Check(tb, path, []byte("one\ntwo\nthree\n")) }); len(r.errors)+len(r.fatals) != 0 {
		t.Errorf("equal output reported %v %v", r.errors, r.fatals)
	}
	r := run(t, func(tb testing.TB) { Check(tb, path, []byte("one\n2\nthree\n")) })
	if len(r.errors) != 1 || len(r.fatals) != 0 {
		t.Fatalf("changed line: errors %q, fatals %q; want one error", r.errors, r.fatals)
	}
	// The report names the file and shows the changed line both ways, not the whole output.
	for _, want := range []string{path, `-`, `"two\n"`, `+`, `"2\n"`, "-update"} {
		if !strings.Contains(r.errors[0], want) {
			t.Errorf("report lacks %q:\n%s", want, r.errors[0])
		}
	}
}

func TestCheckMissingFileStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.golden")
	r := run(t, func(tb testing.TB) { Check(tb, path, []byte("x")) })
	if len(r.fatals) != 1 || !strings.Contains(r.fatals[0], "-update to create it") {
		t.Fatalf("fatals %q, want one naming -update", r.fatals)
	}
}

func TestCheckUpdateWrites(t *testing.T) {
	defer func(old bool) { *update = old }(*update)
	*update = true
	path := filepath.Join(t.TempDir(), "testdata", "new.golden")
	if r := run(t, func(tb testing.TB) { Check(tb, path, []byte("fresh\n")) }); len(r.errors)+len(r.fatals) != 0 {
		t.Fatalf("update reported %v %v", r.errors, r.fatals)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "fresh\n" {
		t.Fatalf("file after -update: %q, %v", got, err)
	}
	if !Update() {
		t.Error("Update() is false under -update")
	}
}
