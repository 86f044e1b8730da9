package engine

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/meshlab/meshlab/provision/event"
)

func TestExecuteLifecycle(t *testing.T) {
	var calls []string
	boom := errors.New("boom")
	phases := Phases{
		&fakePhase{title: "a", calls: &calls},
		&fakePhase{title: "b", calls: &calls, skip: true},
		&fakePhase{title: "c", calls: &calls},
		&fakePhase{title: "d", calls: &calls, run: func() error { return boom }},
		&fakePhase{title: "e", calls: &calls},
	}
	r, rec := newTestRun(t, 1)
	phases[0].(*fakePhase).run = func() error {
		r.OnClose(func() { calls = append(calls, "close 1") })
		r.OnClose(func() { calls = append(calls, "close 2") })
		return nil
	}
	err := Execute(context.Background(), r, phases)
	if !errors.Is(err, boom) {
		t.Fatalf("Execute error = %v, want it to wrap boom", err)
	}
	want := []string{
		"prepare a", "run a", "prepare b", "prepare c", "run c", "prepare d", "run d",
		// clean-ups in reverse order, only of phases that ran; e never starts.
		"cleanup d", "cleanup c", "cleanup a",
		// then what phases kept open for the rest of the run, last first.
		"close 2", "close 1",
	}
	if !slices.Equal(calls, want) {
		t.Errorf("calls:\n got %q\nwant %q", calls, want)
	}
	if n := len(rec.of(event.PhaseSkip)); n != 1 {
		t.Errorf("phase.skip events = %d, want 1", n)
	}
	done := rec.of(event.LabDone)
	if len(done) != 1 || done[0].State != event.StateFailed || done[0].Error == nil {
		t.Fatalf("lab.done = %+v, want one failed event with an error", done)
	}
	pd := rec.of(event.PhaseDone)
	if last := pd[len(pd)-1]; last.Error == nil || last.Phase != "d" {
		t.Errorf("last phase.done = %+v, want d failed", last)
	}
	if tr := r.Hosts[0].Transport; tr != nil {
		t.Errorf("transport not closed and cleared after the run")
	}
}

func TestPhasesSelect(t *testing.T) {
	var calls []string
	mk := func(s string) Phase { return &fakePhase{title: s, calls: &calls} }
	ps := Phases{mk("b"), mk("c"), mk("d")}
	if err := ps.remove("zz"); err == nil {
		t.Error("remove of an unknown phase: want error")
	}
	sel, err := ps.Select([]string{"c", " "}, "")
	if err != nil || !slices.Equal(sel.Names(), []string{"b", "d"}) {
		t.Errorf("Select skip c = %v, %v", sel.Names(), err)
	}
	if !slices.Equal(ps.Names(), []string{"b", "c", "d"}) {
		t.Errorf("Select changed the original list: %v", ps.Names())
	}
	sel, err = ps.Select(nil, "D")
	if err != nil || !slices.Equal(sel.Names(), []string{"d"}) {
		t.Errorf("Select only D = %v, %v", sel.Names(), err)
	}
	if _, err := ps.Select([]string{"nope"}, ""); err == nil {
		t.Error("Select with an unknown phase: want error")
	}
}
