package config

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

// TestLoadSurvivesMutations is a deterministic stand-in for FuzzLoad that runs in every `go
// test`: seeded random byte edits of the test files must never panic or hang the loader.
func TestLoadSurvivesMutations(t *testing.T) {
	seeds := []string{"testdata/bookinfo-registry.yaml", "testdata/legacy-routerules.yaml",
		"testdata/istio-samples/virtual-service-ratings-test-abort.yaml", "testdata/istio-samples/destination-rule-all.yaml"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		b, err := os.ReadFile(seeds[r.IntN(len(seeds))])
		if err != nil {
			t.Fatal(err)
		}
		for range 1 + r.IntN(4) {
			p := r.IntN(len(b))
			switch r.IntN(3) {
			case 0:
				b[p] = byte(r.IntN(256))
			case 1:
				b = append(b[:p], b[min(len(b), p+1+r.IntN(8)):]...)
			default:
				q := r.IntN(len(b))
				b = append(b[:p:p], append([]byte(string(b[q:min(len(b), q+r.IntN(30))])), b[p:]...)...)
			}
			if len(b) == 0 {
				b = []byte("a")
			}
		}
		done := make(chan any, 1)
		go func() {
			defer func() { done <- recover() }()
			if s, err := Parse("mutated.yaml", b); err == nil {
				if tb, err := Compile(s); err == nil {
					_ = tb.Dump(&strings.Builder{})
				}
			}
		}()
		select {
		case p := <-done:
			if p != nil {
				t.Fatalf("panic %v on input %q", p, b)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("loader hung on input %q", b)
		}
	}
}
