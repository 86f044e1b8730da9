package verify

import (
	"math"
	"testing"

	"github.com/meshlab/meshlab/internal/chance"
)

// TestStatedChances holds every sampled assertion of verify to the figure its comment states and
// to the budget of 1e-4 false failures per run, from the constants the checks use. With reviews
// balanced evenly (the mesh's default least-request picks uniformly among idle endpoints), each
// page is an independent draw.
func TestStatedChances(t *testing.T) {
	half := splitPages / 2
	perSample := chance.BinomialOutside(splitPages, 0.5, half-splitTolerance+1, half+splitTolerance-1)
	figures := []struct {
		what   string
		got    float64
		stated float64
	}{
		{"reviews-50-v3: one sample of 100 outside 41..59", perSample, 0.0569},
		{"reviews-50-v3: every one of its samples", chance.AllOf(perSample, splitAttempts), 1.05e-5},
		{"all-versions: a version never seen among 30 pages", chance.SomeNeverSeen(versionPages, 3), 1.6e-5},
		{"trace: no page of an attempt reaches ratings", math.Pow(1.0/3, tracePages), 1.9e-6},
		{"all-v1 settles by chance (per poll)", math.Pow(1.0/3, allV1SettlePages), 2.9e-10},
		{"reviews-test-v2 settles by chance (per poll)", math.Pow(1.0/3, 2*testV2SettlePages), 2.9e-10},
		{"reviews-50-v3 settles by chance: no v2 among 30 (per poll)", math.Pow(2.0/3, splitSettlePages), 5.2e-6},
	}
	for _, f := range figures {
		t.Logf("%-60s %.3g", f.what, f.got)
		if math.Abs(f.got-f.stated) > 0.05*f.stated {
			t.Errorf("%s: %.3g, but the comment states %.3g", f.what, f.got, f.stated)
		}
	}
	for _, f := range figures[1:] {
		if f.got > chance.Budget {
			t.Errorf("%s: false-failure chance %.3g is above the budget %g", f.what, f.got, chance.Budget)
		}
	}
}
