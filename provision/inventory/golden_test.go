package inventory

import (
	"errors"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestBrokenFileGolden pins the full report for a file with one of each common mistake: the
// wording, the order and every position. Refresh with: go test ./provision/inventory -update
func TestBrokenFileGolden(t *testing.T) {
	_, err := Load("testdata/broken.yaml")
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load(broken.yaml) = %v, want a *ValidationError", err)
	}
	got := ve.Error() + "\n"
	const golden = "testdata/broken.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("report differs from %s (run with -update if the change is intended):\n--- got\n%s--- want\n%s", golden, got, want)
	}
	if len(ve.Problems) < 20 {
		t.Errorf("broken.yaml yields %d problems; it is meant to show at least 20", len(ve.Problems))
	}
}
