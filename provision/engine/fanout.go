package engine

import (
	"context"
	"errors"
	"sync"
)

// ForEachHost calls fn for every host with at most r.Concurrency calls at once: a sliding window,
// so a slow host holds one slot, not a whole batch. A failing host does not stop the others; the
// errors come back joined (each one typed, in host order) once every call has returned.
func (r *Run) ForEachHost(ctx context.Context, hosts []*Host, fn func(ctx context.Context, h *Host) error) error {
	errs := make([]error, len(hosts))
	sem := make(chan struct{}, r.concurrency())
	var wg sync.WaitGroup
	for i, h := range hosts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(ctx, h)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
