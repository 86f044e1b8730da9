package kubereg

import (
	"context"
	"fmt"

	"github.com/meshlab/meshlab/mesh/pilot/model"
)

// Snapshot runs r until its first State (everything listed once) and returns it: for one-shot
// readers such as `meshlab mesh analyze`.
func Snapshot(ctx context.Context, r model.Registry) (model.State, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan model.State, 1)
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, func(s model.State) {
			select {
			case got <- s:
				cancel()
			default: // already have one; Run is stopping
			}
		})
	}()
	err := <-done // Run returns once the first State cancelled it, or on failure
	select {
	case s := <-got:
		return s, nil
	default:
	}
	if err == nil {
		err = fmt.Errorf("no complete view of the cluster: %w", context.Cause(ctx))
	}
	return model.State{}, fmt.Errorf("kube registry: %w", err)
}
