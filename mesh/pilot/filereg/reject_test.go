package filereg

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/pilot/model"
)

// TestRejectedPolicyKeepsTheLastGoodState: a file change with a policy that does not validate is
// refused; the previous state is pushed again with the rejection noted, for `mesh status`.
func TestRejectedPolicyKeepsTheLastGoodState(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "security.yaml")
	sample, err := os.ReadFile("../../config/testdata/istio-samples/authz-http/details-viewer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, sample, 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var states []model.State
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = (&Registry{Files: []string{f}, Interval: 10 * time.Millisecond}).Run(ctx, func(st model.State) {
			mu.Lock()
			states = append(states, st)
			mu.Unlock()
		})
	}()
	last := func() (model.State, int) {
		mu.Lock()
		defer mu.Unlock()
		if len(states) == 0 {
			return model.State{}, 0
		}
		return states[len(states)-1], len(states)
	}
	waitFor := func(what string, ok func(model.State, int) bool) model.State {
		deadline := time.Now().Add(5 * time.Second)
		for {
			if st, n := last(); ok(st, n) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 5 s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("first state", func(_ model.State, n int) bool { return n == 1 })
	bad := strings.Replace(string(sample), "cluster.local/ns/default/sa/bookinfo-productpage", "bookinfo-productpage", 1)
	// Replaced whole (write, then rename), as editors and ConfigMap mounts do: a poll between a
	// truncate and a write would see an empty file and push a state of its own.
	if err := os.WriteFile(f+".new", []byte(bad+"\n# changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f+".new", f); err != nil {
		t.Fatal(err)
	}
	st := waitFor("re-pushed state", func(st model.State, n int) bool { return n >= 2 && len(st.Rejected) > 0 })
	if len(st.AuthorizationPolicies) != 1 || st.AuthorizationPolicies[0].Spec.Rules[0].From[0].Source.Principals[0] != "cluster.local/ns/default/sa/bookinfo-productpage" {
		t.Fatalf("the last good policy is not what stays: %v", st.AuthorizationPolicies)
	}
	if len(st.Rejected) != 1 || !strings.Contains(st.Rejected[0], "principals[0]") {
		t.Fatalf("rejection not reported: %q", st.Rejected)
	}
}
