package inject

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// WaitReady polls url until it answers 200 or ctx ends; it is the postStart hook of a proxy
// injected as a regular container (`meshlab mesh wait`): the kubelet does not start the
// application containers until the hook returns. The last failure is in the error so that
// `kubectl describe pod` says why the proxy never became ready.
func WaitReady(ctx context.Context, client *http.Client, url string, interval time.Duration) error {
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		last = probe(ctx, client, url)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("proxy not ready at %s: %w (last attempt: %v)", url, ctx.Err(), last)
		case <-t.C:
		}
	}
}

func probe(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, msg)
	}
	return nil
}
