package chance

import (
	"math"
	"testing"
)

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-9*want }

// Reference values computed exactly (sums of binomial coefficients over rationals).
func TestBinomialOutside(t *testing.T) {
	cases := []struct {
		n      int
		p      float64
		lo, hi int
		want   float64
	}{
		{100, 0.5, 41, 59, 0.05688793364098078},  // reviews-50-v3: 100 pages, v3 in 50±10 strict
		{100, 0.5, 40, 60, 0.035200200217704807}, // the same, bounds included
		{100, 0.5, 35, 65, 0.0017899303914868524},
		{400, 0.5, 140, 260, 1.0846402527089857e-09},
		{100, 0.75, 50, 100, 2.1311916083902685e-08},
		{10000, 0.9, 8700, 9300, 3.1409695123826486e-22},
		{3, 0.5, 0, 3, 0},
		{3, 0.5, 1, 3, 0.125},
	}
	for _, c := range cases {
		if got := BinomialOutside(c.n, c.p, c.lo, c.hi); !near(got, c.want) && got != c.want {
			t.Errorf("BinomialOutside(%d, %v, %d, %d) = %v, want %v", c.n, c.p, c.lo, c.hi, got, c.want)
		}
	}
}

func TestSomeNeverSeen(t *testing.T) {
	want := 3*math.Pow(2.0/3, 30) - 3*math.Pow(1.0/3, 30)
	if got := SomeNeverSeen(30, 3); !near(got, want) {
		t.Errorf("SomeNeverSeen(30, 3) = %v, want %v", got, want)
	}
	if got := SomeNeverSeen(1, 2); !near(got, 1) {
		t.Errorf("one draw of two categories always misses one: %v", got)
	}
	if got := SomeNeverSeen(5, 1); got != 0 {
		t.Errorf("one category is always seen: %v", got)
	}
}
