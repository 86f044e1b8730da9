package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshlab/meshlab/bookinfo/deploy"
)

// Scenario is one of Istio's traffic-management tasks: samples applied on top of
// destination-rule-all.yaml, then an observation through the Browser.
type Scenario struct {
	Name     string
	Expected string
	Samples  []string // networking sample files, applied in order after destination-rule-all.yaml
	// Settle is the condition that shows the sidecars have the new routes; it is polled until
	// SettleTimeout before Observe runs.
	Settle  func(ctx context.Context, b Browser) (bool, error)
	Observe func(ctx context.Context, b Browser) (Observation, error)
	// Samples of a random split can miss the tolerance by chance, so such an observation gets
	// Attempts fresh samples, as Istio's own tests retry; a split that is really wrong fails
	// every one. 0 means 1.
	Attempts int
}

// The reviews-50-v3 observation, in istio.io's shape: 100 pages, v3 within 50±10, bounds
// excluded. A healthy 50/50 split falls outside 41..59 with chance
// chance.BinomialOutside(100, 0.5, 41, 59) ≈ 0.0569 per sample, so four fresh samples all miss
// with 0.0569^4 ≈ 1.05e-5 per run (TestStatedChances; three gave 1.8e-4, above the 1e-4 budget).
const (
	splitPages     = 100
	splitTolerance = 10
	splitAttempts  = 4
)

// Pages the settle conditions ask for (see Scenarios); TestStatedChances checks the chance
// that the routing before meets them.
const (
	allV1SettlePages  = 20 // all v1: (1/3)^20 ≈ 2.9e-10
	testV2SettlePages = 10 // jason all v2 and anonymous all v1: (1/3)^20
	splitSettlePages  = 30 // some v3, no v2: at most (2/3)^30 ≈ 5.2e-6
)

// SettleTimeout bounds how long routing may take to reach every sidecar.
const SettleTimeout = 60 * time.Second

// Scenarios are the networking samples of Istio's traffic-management tasks (request routing,
// fault injection, traffic shifting on istio.io, whose doc tests check the same pages), with the
// counts meshlab checks.
func Scenarios() []Scenario {
	// Settle conditions must not be met by chance under the routing before (reviews balanced
	// evenly over three versions): they ask for runs of pages an unrouted mesh gives with a
	// chance of at most 5.2e-6 per poll (TestStatedChances), since a false settle would have
	// Observe sample the old routing.
	anonRun := func(n int, ok func(map[string]int) bool) func(context.Context, Browser) (bool, error) {
		return func(ctx context.Context, b Browser) (bool, error) {
			c, err := b.Count(ctx, nil, n)
			return err == nil && ok(c), err
		}
	}
	asJason := func(ok func(Page) bool) func(context.Context, Browser) (bool, error) {
		return func(ctx context.Context, b Browser) (bool, error) {
			_, p, err := b.Login(ctx, "jason")
			return err == nil && ok(p), err
		}
	}
	return []Scenario{{
		Name:     "all-v1",
		Expected: "20 of 20 pages from reviews v1 (no stars)",
		Samples:  []string{"virtual-service-all-v1.yaml"},
		Settle:   anonRun(allV1SettlePages, func(c map[string]int) bool { return c["v1"] == allV1SettlePages }),
		Observe: func(ctx context.Context, b Browser) (Observation, error) {
			c, err := b.Count(ctx, nil, 20)
			o := Observation{Observed: formatCounts(c)}
			if err == nil && c["v1"] != 20 {
				err = errors.New("pages from other versions than v1 with virtual-service-all-v1 applied")
			}
			return o, err
		},
	}, {
		Name:     "reviews-test-v2",
		Expected: "jason (logged in) 10 of 10 v2; anonymous 10 of 10 v1",
		Samples:  []string{"virtual-service-all-v1.yaml", "virtual-service-reviews-test-v2.yaml"},
		Settle: func(ctx context.Context, b Browser) (bool, error) {
			s, _, err := b.Login(ctx, "jason")
			if err != nil {
				return false, err
			}
			j, err := b.Count(ctx, s, testV2SettlePages)
			if err != nil || j["v2"] != testV2SettlePages {
				return false, err
			}
			a, err := b.Count(ctx, nil, testV2SettlePages)
			return err == nil && a["v1"] == testV2SettlePages, err
		},
		Observe: func(ctx context.Context, b Browser) (Observation, error) {
			s, _, err := b.Login(ctx, "jason")
			if err != nil {
				return Observation{}, err
			}
			j, err := b.Count(ctx, s, 10)
			if err != nil {
				return Observation{}, err
			}
			a, err := b.Count(ctx, nil, 10)
			o := Observation{Observed: "jason " + formatCounts(j) + "; anonymous " + formatCounts(a)}
			if err == nil && (j["v2"] != 10 || a["v1"] != 10) {
				err = errors.New("the end-user: jason match did not split traffic as the sample says")
			}
			return o, err
		},
	}, {
		Name:     "reviews-50-v3",
		Expected: fmt.Sprintf("of %d pages, v3 in 50±%d and the rest v1", splitPages, splitTolerance),
		Attempts: splitAttempts,
		Samples:  []string{"virtual-service-all-v1.yaml", "virtual-service-reviews-50-v3.yaml"},
		Settle:   anonRun(splitSettlePages, func(c map[string]int) bool { return c["v3"] > 0 && c["v2"] == 0 }),
		Observe: func(ctx context.Context, b Browser) (Observation, error) {
			c, err := b.Count(ctx, nil, splitPages)
			o := Observation{Observed: formatCounts(c)}
			half := splitPages / 2
			if err == nil && (c["v3"] <= half-splitTolerance || c["v3"] >= half+splitTolerance || c["v1"]+c["v3"] != splitPages) {
				err = errors.New("the 50/50 weights were not honoured")
			}
			return o, err
		},
	}, {
		Name:     "ratings-test-delay",
		Expected: "jason: reviews unavailable after about 6 s (5–9 s); anonymous: v1 at once",
		Samples: []string{"virtual-service-all-v1.yaml", "virtual-service-reviews-test-v2.yaml",
			"virtual-service-ratings-test-delay.yaml"},
		Settle: asJason(Page.ReviewsUnavailable),
		Observe: func(ctx context.Context, b Browser) (Observation, error) {
			p, a, err := jasonThenAnonymous(ctx, b)
			if p.Status == 0 { // jason's page never came
				return Observation{}, err
			}
			o := Observation{Observed: fmt.Sprintf("jason: reviews unavailable=%t in %.1fs; anonymous %s",
				p.ReviewsUnavailable(), p.Elapsed.Seconds(), a.ReviewsVersion())}
			switch {
			case err != nil:
			case !p.ReviewsUnavailable():
				err = errors.New("jason's page shows reviews: the 7 s delay on ratings was not injected")
			case p.Elapsed < 5*time.Second || p.Elapsed > 9*time.Second:
				// productpage waits 3 s for reviews and retries once (Istio's "intentional bug").
				err = fmt.Errorf("jason's page took %.1fs; want about 6 s (two 3 s attempts)", p.Elapsed.Seconds())
			case a.ReviewsVersion() != "v1" || a.ReviewsUnavailable():
				err = errors.New("anonymous users must not be delayed")
			}
			return o, err
		},
	}, {
		Name:     "ratings-test-abort",
		Expected: "jason: ratings unavailable (HTTP 500 injected); anonymous: v1",
		Samples: []string{"virtual-service-all-v1.yaml", "virtual-service-reviews-test-v2.yaml",
			"virtual-service-ratings-test-abort.yaml"},
		Settle: asJason(Page.RatingsUnavailable),
		Observe: func(ctx context.Context, b Browser) (Observation, error) {
			p, a, err := jasonThenAnonymous(ctx, b)
			if p.Status == 0 { // jason's page never came
				return Observation{}, err
			}
			o := Observation{Observed: fmt.Sprintf("jason: ratings unavailable=%t; anonymous %s",
				p.RatingsUnavailable(), a.ReviewsVersion())}
			switch {
			case err != nil:
			case !p.RatingsUnavailable():
				err = errors.New("jason's page shows ratings: the abort was not injected")
			case a.ReviewsVersion() != "v1":
				err = errors.New("anonymous users must see reviews v1 without errors")
			}
			return o, err
		},
	}}
}

// jasonThenAnonymous is the fault scenarios' observation: the page as jason (logged in, whom the
// faults target; the page login lands on), then anonymously (whom they must spare). When
// jason's page fails it is the zero Page; when only the anonymous one fails, jason's is kept
// for the observation.
func jasonThenAnonymous(ctx context.Context, b Browser) (jason, anonymous Page, err error) {
	if _, jason, err = b.Login(ctx, "jason"); err != nil {
		return Page{}, Page{}, err
	}
	anonymous, err = b.Get(ctx, nil)
	return jason, anonymous, err
}

// scenarioObjects decodes destination-rule-all.yaml and the scenario's samples.
func scenarioObjects(s Scenario) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, f := range append([]string{"destination-rule-all.yaml"}, s.Samples...) {
		data, err := deploy.Sample(f)
		if err != nil {
			return nil, err
		}
		o, err := deploy.Decode(f, data)
		if err != nil {
			return nil, err
		}
		// A later sample replaces an earlier object of the same name (reviews-test-v2 over
		// all-v1's reviews), as `kubectl apply` of the files in order would.
		for _, n := range o {
			for i, prev := range objs {
				if key(prev) == key(n) {
					objs = append(objs[:i], objs[i+1:]...)
					break
				}
			}
			objs = append(objs, n)
		}
	}
	return objs, nil
}

// RestoreTimeout bounds putting the user's routing back, which runs even after Ctrl+C.
const RestoreTimeout = 30 * time.Second

// runScenario applies s through r, waits until it shows, observes, and always restores.
func runScenario(ctx context.Context, r Router, b Browser, s Scenario) (o Observation, err error) {
	objs, err := scenarioObjects(s)
	if err != nil {
		return Observation{}, err
	}
	restore, err := r.Apply(ctx, objs)
	defer func() {
		if restore == nil {
			return
		}
		// The user's routing comes back even when ctx was cancelled (Ctrl+C).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RestoreTimeout)
		defer cancel()
		if rerr := restore(rctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("YOUR ROUTING WAS NOT RESTORED: %w", rerr))
		}
	}()
	if err != nil {
		return Observation{}, err
	}
	if err := settle(ctx, b, s); err != nil {
		return Observation{Observed: "routing did not take effect"}, err
	}
	return Observe(ctx, b, s)
}

// Observe runs s.Observe up to s.Attempts times, until it passes; the observation says how
// many samples it took and what the missed ones saw. Tests that apply the samples themselves
// observe through it too, so their false-failure chance is the one stated for the scenario.
func Observe(ctx context.Context, b Browser, s Scenario) (Observation, error) {
	var missed []string
	for i := 1; ; i++ {
		o, err := s.Observe(ctx, b)
		if err == nil || i >= max(s.Attempts, 1) || ctx.Err() != nil {
			if len(missed) > 0 {
				o.Observed += fmt.Sprintf(" (sample %d of %d; before: %s)", i, max(s.Attempts, 1), strings.Join(missed, "; "))
			}
			return o, err
		}
		missed = append(missed, o.Observed)
	}
}

func settle(ctx context.Context, b Browser, s Scenario) error {
	ctx, cancel := context.WithTimeout(ctx, SettleTimeout)
	defer cancel()
	var last error
	for {
		ok, err := s.Settle(ctx, b)
		if ok {
			return nil
		}
		last = err
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			if last != nil {
				return fmt.Errorf("%s not in effect after %v: %w", s.Name, SettleTimeout, last)
			}
			return fmt.Errorf("%s not in effect after %v", s.Name, SettleTimeout)
		case <-t.C:
		}
	}
}
