// Package chance gives the false-failure chance of the tests' statistical assertions, so each
// one states an exact figure, and a test holds it to the budget, instead of a guess.
package chance

import "math"

// Budget is the largest false-failure chance per run a statistical assertion may have: a
// test suite of a few dozen such assertions then fails for no fault about once in a few
// hundred runs at worst.
const Budget = 1e-4

// BinomialOutside is P(X < lo or X > hi) for X ~ Binomial(n, p): the chance that a count of
// successes among n independent trials, each a success with chance p, falls outside [lo, hi].
func BinomialOutside(n int, p float64, lo, hi int) float64 {
	sum := 0.0
	for k := 0; k <= n; k++ {
		if k < lo || k > hi {
			sum += binomialPMF(n, k, p)
		}
	}
	return min(sum, 1)
}

// binomialPMF is P(X = k) for X ~ Binomial(n, p), computed in logarithms so that n in the
// thousands neither overflows nor underflows the binomial coefficient.
func binomialPMF(n, k int, p float64) float64 {
	switch {
	case p == 0:
		return b2f(k == 0)
	case p == 1:
		return b2f(k == n)
	}
	lnC := lgamma(n+1) - lgamma(k+1) - lgamma(n-k+1)
	return math.Exp(lnC + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
}

func lgamma(n int) float64 {
	v, _ := math.Lgamma(float64(n))
	return v
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// SomeNeverSeen is the chance that among n independent draws, each equally likely to be any of
// k categories, at least one category never appears (inclusion–exclusion over the categories
// that are missed).
func SomeNeverSeen(n, k int) float64 {
	sum := 0.0
	for j := 1; j < k; j++ {
		term := math.Exp(lgamma(k+1)-lgamma(j+1)-lgamma(k-j+1)) * math.Pow(float64(k-j)/float64(k), float64(n))
		if j%2 == 1 {
			sum += term
		} else {
			sum -= term
		}
	}
	return max(sum, 0)
}

// AllOf is the chance that attempts independent tries, each failing with chance p, all fail:
// an assertion that takes fresh samples until one passes.
func AllOf(p float64, attempts int) float64 { return math.Pow(p, float64(attempts)) }
