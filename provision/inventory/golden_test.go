package inventory

import (
	"errors"
	"testing"

	"github.com/meshlab/meshlab/internal/golden"
)

// TestBrokenFileGolden pins the full report for a file with one of each common mistake: the
// wording, the order and every position. Refresh with: go test ./provision/inventory -update
func TestBrokenFileGolden(t *testing.T) {
	_, err := Load("testdata/broken.yaml")
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load(broken.yaml) = %v, want a *ValidationError", err)
	}
	got := ve.Error() + "\n"
	golden.Check(t, "testdata/broken.golden", []byte(got))
	if len(ve.Problems) < 20 {
		t.Errorf("broken.yaml yields %d problems; it is meant to show at least 20", len(ve.Problems))
	}
}
