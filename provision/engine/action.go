package engine

import (
	"context"

	"github.com/meshlab/meshlab/provision/playbook"
)

// UpPhases is the `meshlab up` (and `meshlab plan`) action for a playbook: connect, then the
// playbook's phases in order: how a playbook other than the lab's runs (the lab places its
// playbook's phases by name among Go phases: lab/phases.go).
func UpPhases(pb *playbook.Playbook) Phases {
	return append(Phases{Connect{}}, PlaybookPhases(pb, pb.Phases)...)
}

// DownPhases is the `meshlab down` action: connect, the playbook's reset phases, then forget the
// recorded tasks so the next `up` does them again.
func DownPhases(pb *playbook.Playbook) Phases {
	ps := append(Phases{Connect{}}, PlaybookPhases(pb, pb.Reset)...)
	return append(ps, ForgetState{})
}

// ForgetState clears the hosts' recorded tasks after a reset: what they recorded was undone.
type ForgetState struct{}

func (ForgetState) Title() string { return "Forget recorded tasks" }
func (ForgetState) Name() string  { return "forget-state" }

func (ForgetState) Run(_ context.Context, r *Run) error {
	if r.State == nil {
		return nil
	}
	for _, h := range r.Hosts {
		err := r.Wet(h, "forget-state", "forget", "would forget the tasks recorded as done in "+r.State.Path(), func() error {
			return r.State.Forget(h.Name)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
