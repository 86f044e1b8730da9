package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/meshlab/meshlab/internal/golden"
)

// fixedClock advances one second per reading, so durations in golden output are stable.
func fixedClock() func() time.Time {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func ok(obs string) CheckFunc {
	return func(context.Context) (Observation, error) { return Observation{Observed: obs}, nil }
}

func fail(obs, msg, detail string) CheckFunc {
	return func(context.Context) (Observation, error) {
		return Observation{Observed: obs, Detail: detail}, errors.New(msg)
	}
}

// sampleSuite has one check of every outcome.
func sampleSuite() []Category {
	return []Category{{Name: "cluster", Checkers: []Checker{
		{Name: "pods-ready", Expected: "6 Bookinfo pods, each 2/2 Ready", Quick: true, Check: ok("6/6 workloads with a pod 2/2 Ready")},
	}}, {Name: "bookinfo", Checkers: []Checker{
		{Name: "all-versions", Expected: "v1, v2 and v3 of reviews among 30 pages", Hint: "a reviews version is missing",
			Check: fail("v1=15 v2=0 v3=15", "no page from reviews v2", "")},
		{Name: "slow", Expected: "fine", Warning: true, Hint: "look at it", Check: fail("meh", "it is slow", "3s")},
	}}, {Name: "grafana", Checkers: []Checker{
		{Name: "health", Expected: "GET /api/health database ok", Check: func(context.Context) (Observation, error) {
			return Observation{Observed: "Grafana not running"}, fmt.Errorf("%w: Grafana", ErrNotInBundle)
		}},
		{Name: "extra", Expected: "something", Check: func(context.Context) (Observation, error) {
			return Observation{}, Skip("no Grafana URL")
		}},
	}}}
}

func TestRenderersGolden(t *testing.T) {
	rs, failed := Runner{Now: fixedClock()}.Run(context.Background(), sampleSuite(), nil)
	if !failed {
		t.Fatal("the sample suite has a failure")
	}
	var table, js bytes.Buffer
	if err := RenderTable(&table, rs); err != nil {
		t.Fatal(err)
	}
	if err := RenderJSON(&js, rs); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/results.txt", table.Bytes())
	golden.Check(t, "testdata/results.json", js.Bytes())
}

type recorder struct{ started, finished []string }

func (r *recorder) Started(cat string, c Checker) { r.started = append(r.started, cat+"/"+c.Name) }
func (r *recorder) Finished(res Result) {
	r.finished = append(r.finished, res.Category+"/"+res.Check+"="+string(res.Status))
}

func TestRunnerFatalStopsLaterChecks(t *testing.T) {
	suite := []Category{{Name: "a", Checkers: []Checker{{Name: "one", Fatal: true, Check: fail("x", "broken", "")}}},
		{Name: "b", Checkers: []Checker{{Name: "two", Check: ok("fine")}}}}
	obs := &recorder{}
	rs, failed := Runner{}.Run(context.Background(), suite, obs)
	if !failed || rs[1].Status != Skipped || rs[1].Observed != "one failed" {
		t.Fatalf("results: %+v", rs)
	}
	if len(obs.started) != 2 || obs.finished[0] != "a/one=FAILED" || obs.finished[1] != "b/two=skipped" {
		t.Fatalf("observer saw %v %v", obs.started, obs.finished)
	}
}

func TestRunnerRetriesUntilPass(t *testing.T) {
	n := 0
	c := Checker{Name: "flaky", Retry: time.Minute, Check: func(context.Context) (Observation, error) {
		n++
		if n < 3 {
			return Observation{}, errors.New("not yet")
		}
		return Observation{Observed: "now"}, nil
	}}
	rs, failed := Runner{Poll: time.Millisecond}.Run(context.Background(), []Category{{Name: "x", Checkers: []Checker{c}}}, nil)
	if failed || n != 3 || rs[0].Status != Passed {
		t.Fatalf("n=%d results %+v", n, rs)
	}
}

func TestRunnerStopsRetryingOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := Checker{Name: "never", Retry: time.Hour, Check: func(context.Context) (Observation, error) {
		cancel()
		return Observation{}, errors.New("down")
	}}
	rs, failed := Runner{Poll: time.Hour}.Run(ctx, []Category{{Name: "x", Checkers: []Checker{c, {Name: "after", Check: ok("")}}}}, nil)
	if !failed || rs[0].Status != Failed || rs[1].Status != Skipped || rs[1].Observed != "interrupted" {
		t.Fatalf("results %+v", rs)
	}
}
