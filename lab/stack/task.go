package stack

import (
	"github.com/meshlab/meshlab/provision/engine"
)

// task is one step of a stack phase: engine.Step's events and error contract.
type task struct{ *engine.Step }

func newTask(r *engine.Run, h *engine.Host, phase, name string) *task {
	return &task{r.Step(h, phase, name)}
}

// fail reports err as the step's failure; without a hint it says how to continue.
func (t *task) fail(hint string, err error) error {
	if hint == "" {
		hint = "fix the cause shown above, then re-run `meshlab up --stack`; finished steps are skipped"
	}
	return t.Fail("", hint, err)
}
