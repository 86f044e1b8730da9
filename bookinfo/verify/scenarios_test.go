package verify

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestObserveTakesFreshSamples: a random split that misses the tolerance once passes on a fresh
// sample and says so; one that misses every time fails after Attempts samples.
func TestObserveTakesFreshSamples(t *testing.T) {
	seen := []string{"v1=61 v3=39", "v1=52 v3=48"}
	calls := 0
	s := Scenario{Name: "split", Attempts: 3, Observe: func(context.Context, Browser) (Observation, error) {
		o := Observation{Observed: seen[min(calls, len(seen)-1)]}
		calls++
		if o.Observed == "v1=61 v3=39" {
			return o, errors.New("off")
		}
		return o, nil
	}}
	o, err := Observe(context.Background(), Browser{}, s)
	if err != nil || calls != 2 || !strings.Contains(o.Observed, "v1=52 v3=48 (sample 2 of 3; before: v1=61 v3=39)") {
		t.Fatalf("one miss: calls %d, %q, %v", calls, o.Observed, err)
	}

	calls = 0
	s.Observe = func(context.Context, Browser) (Observation, error) {
		calls++
		return Observation{Observed: "v1=100 v3=0"}, errors.New("the 50/50 weights were not honoured")
	}
	if _, err := Observe(context.Background(), Browser{}, s); err == nil || calls != 3 {
		t.Fatalf("always off: calls %d, err %v", calls, err)
	}
	s.Attempts = 0
	calls = 0
	if _, err := Observe(context.Background(), Browser{}, s); err == nil || calls != 1 {
		t.Fatalf("no Attempts: calls %d, err %v", calls, err)
	}
}
