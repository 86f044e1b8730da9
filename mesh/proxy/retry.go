package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
)

// maxReplayBody is the largest request body kept for retries (Linkerd uses 64 KiB too); larger
// or streamed bodies are sent once.
const maxReplayBody = 64 << 10

var (
	errNoHealthyUpstream = errors.New("no healthy upstream")
	errOverflow          = errors.New("upstream connection pool overflow")
	errPerTryTimeout     = errors.New("upstream per-try timeout")
)

// retryingTransport sends a routed request to an endpoint of its cluster, retrying by the
// route's policy on another pick, and feeds outcomes to outlier detection.
type retryingTransport struct{ p *Proxy }

func (rt *retryingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st, _ := req.Context().Value(reqStateKey{}).(*reqState)
	if st == nil || st.cluster == nil {
		var dst string
		if st != nil {
			dst = st.dst.String()
		}
		req.URL.Host = dst
		return rt.p.clusters.passthrough.transport(st != nil && st.h2).RoundTrip(req)
	}
	pool := rt.p.clusters.state(st.cluster)
	if pool == nil {
		st.flags = "UH"
		return nil, errNoHealthyUpstream
	}
	// connectionPool.http.http2MaxRequests (and http1MaxPendingRequests, which Envoy also counts
	// against the cluster) bound requests in flight; beyond them the proxy answers 503 at once.
	if limit := max(st.cluster.Pool.MaxRequests, st.cluster.Pool.MaxPendingRequests); limit > 0 {
		if pool.inflight.Add(1) > int64(limit) {
			pool.inflight.Add(-1)
			st.flags = "UO"
			return nil, errOverflow
		}
		defer pool.inflight.Add(-1)
	}
	policy := st.route.Retry
	attempts := policy.Attempts
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		if req.ContentLength > 0 && req.ContentLength <= maxReplayBody && attempts > 0 {
			b, err := io.ReadAll(io.LimitReader(req.Body, maxReplayBody+1))
			if err != nil {
				return nil, err
			}
			body = b
		} else {
			attempts = 0 // a streamed or large body cannot be sent twice
		}
	}
	if req.Header.Get("Upgrade") != "" {
		attempts = 0
	}
	parent := req.Context()
	for try := 0; ; try++ {
		ep := rt.p.clusters.pick(st.cluster)
		if ep == nil {
			st.flags = "UH"
			return nil, errNoHealthyUpstream
		}
		out := req
		if try > 0 || body != nil {
			out = req.Clone(parent)
		}
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
		}
		out.URL.Host = ep.addr.String()
		var cancel context.CancelFunc
		if policy.PerTryTimeout > 0 {
			var ctx context.Context
			ctx, cancel = context.WithTimeoutCause(parent, policy.PerTryTimeout, errPerTryTimeout)
			out = out.WithContext(ctx)
		}
		resp, err := pool.pools.transport(st.h2).RoundTrip(out)
		perTryExpired := cancel != nil && err != nil && out.Context().Err() != nil && parent.Err() == nil
		gw, s5 := classify(resp, err)
		if err != nil && parent.Err() != nil {
			gw, s5 = false, false // the client or the route timeout ended it, not the endpoint
		}
		rt.p.clusters.done(st.cluster, ep, gw, s5)
		if try < attempts && parent.Err() == nil && (perTryExpired || retriable(policy.On, resp, err)) {
			if resp != nil {
				_, _ = io.CopyN(io.Discard, resp.Body, 4<<10) // lets the connection be reused
				resp.Body.Close()
			}
			if cancel != nil {
				cancel()
			}
			st.flags = "URX"
			if !sleepCtx(parent, backoff(try)) {
				return nil, parent.Err()
			}
			continue
		}
		st.ep = ep
		if err != nil {
			if cancel != nil {
				cancel()
			}
			if st.flags == "" || st.flags == "URX" {
				st.flags = "UF"
			}
			return nil, err
		}
		if st.flags == "URX" && resp.StatusCode < 500 {
			st.flags = ""
		}
		if cancel != nil {
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
		}
		return resp, nil
	}
}

// classify says whether an outcome counts as a gateway error (connect failure, reset,
// 502/503/504) and as a 5xx, for outlier detection.
func classify(resp *http.Response, err error) (gateway, fiveXX bool) {
	if err != nil {
		return true, true
	}
	switch c := resp.StatusCode; {
	case c == 502 || c == 503 || c == 504:
		return true, true
	case c >= 500:
		return false, true
	}
	return false, false
}

// retriable applies Envoy's retry_on semantics to one outcome.
func retriable(on config.RetryOn, resp *http.Response, err error) bool {
	if err != nil {
		connect := isConnectError(err)
		return on.FiveXX || on.Reset || on.RefusedStream && !connect || on.ConnectFailure && connect
	}
	c := resp.StatusCode
	switch {
	case on.FiveXX && c >= 500,
		on.GatewayError && (c == 502 || c == 503 || c == 504),
		on.Retriable4xx && c == 409,
		slices.Contains(on.Codes, c):
		return true
	}
	if len(on.GRPC) > 0 {
		if name := grpcStatusName(resp.Header.Get("Grpc-Status")); name != "" && slices.Contains(on.GRPC, name) {
			return true
		}
	}
	return false
}

func isConnectError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func grpcStatusName(code string) string {
	switch code {
	case "1":
		return "cancelled"
	case "4":
		return "deadline-exceeded"
	case "8":
		return "resource-exhausted"
	case "13":
		return "internal"
	case "14":
		return "unavailable"
	}
	return ""
}

// backoff is Envoy's default: 25 ms base, doubling, full jitter, capped at 250 ms.
func backoff(try int) time.Duration {
	limit := 25 * time.Millisecond << min(try, 3)
	return time.Duration(rand.Int64N(int64(min(limit, 250*time.Millisecond)))) + time.Millisecond
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// cancelOnClose ends a per-try context once the response body is done with.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
