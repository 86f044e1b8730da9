package local

import (
	"testing"

	"github.com/meshlab/meshlab/internal/chance"
)

// The sampled assertions of the namespace-mesh tests. With reviews balanced evenly over its
// three versions (the sidecars' default least-request picks uniformly among idle endpoints), each
// page is an independent draw.
const (
	// mixPages: "every version answers" looks at this many pages.
	mixPages = 30
	// splitPages at 50/50 with v3 in [splitLow, splitHigh]: one sample, bounds included.
	splitPages, splitLow, splitHigh = 200, 70, 130
)

// TestStatedChances holds the figures stated where the assertions are made to the budget of
// 1e-4 false failures per run.
func TestStatedChances(t *testing.T) {
	for _, f := range []struct {
		what   string
		got    float64
		stated float64
	}{
		{"a version never seen among 30 pages", chance.SomeNeverSeen(mixPages, 3), 1.6e-5},
		{"v3 outside 70..130 of 200 pages at 50/50", chance.BinomialOutside(splitPages, 0.5, splitLow, splitHigh), 1.4e-5},
	} {
		t.Logf("%-45s %.3g", f.what, f.got)
		if f.got > 1.05*f.stated || f.got < 0.95*f.stated {
			t.Errorf("%s: %.3g, but the tests state %.3g", f.what, f.got, f.stated)
		}
		if f.got > chance.Budget {
			t.Errorf("%s: false-failure chance %.3g is above the budget %g", f.what, f.got, chance.Budget)
		}
	}
}
