package proxy

import (
	"testing"

	"github.com/meshlab/meshlab/internal/chance"
)

// TestStatedChances holds the sampled assertions of this package to the figures their comments
// state and to the budget of 1e-4 false failures per run.
func TestStatedChances(t *testing.T) {
	for _, f := range []struct {
		what   string
		got    float64
		stated float64
	}{
		{"TestWeightedRoute50V3: v1 or v3 below 140 of 400", chance.BinomialOutside(400, 0.5, 140, 260), 1.1e-9},
		{"TestLeastRequestAvoidsBusyEndpoint: idle below 50 of 100", chance.BinomialOutside(100, 0.75, 50, 100), 2.1e-8},
		{"TestPickWeighted: a outside 8700..9300 of 10000", chance.BinomialOutside(10000, 0.9, 8700, 9300), 3.1e-22},
	} {
		t.Logf("%-60s %.3g", f.what, f.got)
		if f.got > 1.05*f.stated || f.got < 0.95*f.stated {
			t.Errorf("%s: %.3g, but the test states %.3g", f.what, f.got, f.stated)
		}
		if f.got > chance.Budget {
			t.Errorf("%s: false-failure chance %.3g is above the budget %g", f.what, f.got, chance.Budget)
		}
	}
}
