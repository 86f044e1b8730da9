package graph

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// DefaultWindow is how far back rates and percentiles look: an edge whose calls stopped longer
// ago than this leaves the graph.
const DefaultWindow = time.Minute

// Querier is the part of Prometheus's HTTP API the graph needs (v1.API satisfies it).
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

var _ Querier = v1.API(nil)

// NewQuerier returns a client of the Prometheus at base (e.g. http://10.0.0.1:30003).
func NewQuerier(base string) (Querier, error) {
	c, err := api.NewClient(api.Config{Address: base})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", base, err)
	}
	return v1.NewAPI(c), nil
}

// Options shape one Fetch.
type Options struct {
	// Window is the range of rate() and the latency histogram (default DefaultWindow).
	Window time.Duration
	// Namespace keeps only edges with an end in this namespace ("" keeps all).
	Namespace string
	// At is the evaluation time (default now).
	At time.Time
}

// pairLabels identify an edge: Istio's standard workload labels of both ends, and which
// sidecar reported the request (each call is counted by both sidecars when both exist).
const pairLabels = "reporter, source_workload, source_workload_namespace, destination_workload, destination_workload_namespace"

// queries are the three PromQL expressions of a graph: rate by edge and service, 5xx rate,
// and p99 from the duration histogram's buckets.
func queries(window time.Duration) (rate, errs, p99 string) {
	w := model.Duration(window).String()
	rate = fmt.Sprintf(`sum by (%s, destination_service) (rate(istio_requests_total[%s]))`, pairLabels, w)
	errs = fmt.Sprintf(`sum by (%s) (rate(istio_requests_total{response_code=~"5.."}[%s]))`, pairLabels, w)
	p99 = fmt.Sprintf(`histogram_quantile(0.99, sum by (le, %s) (rate(istio_request_duration_milliseconds_bucket[%s])))`, pairLabels, w)
	return rate, errs, p99
}

// pair is an edge as reported by one sidecar.
type pair struct {
	reporter string
	from, to Node
}

func pairOf(m model.Metric) pair {
	return pair{
		reporter: string(m["reporter"]),
		from:     Node{Workload: orUnknown(m["source_workload"]), Namespace: orUnknown(m["source_workload_namespace"])},
		to:       Node{Workload: orUnknown(m["destination_workload"]), Namespace: orUnknown(m["destination_workload_namespace"])},
	}
}

func orUnknown(v model.LabelValue) string {
	if v == "" {
		return unknown
	}
	return string(v)
}

// Fetch builds the graph from Prometheus: one edge per caller→callee pair whose request rate
// over the window is above zero.
func Fetch(ctx context.Context, q Querier, o Options) (Graph, error) {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.At.IsZero() {
		o.At = time.Now()
	}
	rateQ, errQ, p99Q := queries(o.Window)
	rates, err := instant(ctx, q, rateQ, o.At)
	if err != nil {
		return Graph{}, err
	}
	errRates, err := instant(ctx, q, errQ, o.At)
	if err != nil {
		return Graph{}, err
	}
	p99s, err := instant(ctx, q, p99Q, o.At)
	if err != nil {
		return Graph{}, err
	}

	type stats struct {
		rate, errs, p99 float64
		services        []string
	}
	byPair := map[pair]*stats{}
	get := func(p pair) *stats {
		s := byPair[p]
		if s == nil {
			s = &stats{p99: math.NaN()}
			byPair[p] = s
		}
		return s
	}
	for _, s := range rates {
		st := get(pairOf(s.Metric))
		st.rate += float64(s.Value)
		if svc := string(s.Metric["destination_service"]); svc != "" && !slices.Contains(st.services, svc) {
			st.services = append(st.services, svc)
		}
	}
	for _, s := range errRates {
		get(pairOf(s.Metric)).errs += float64(s.Value)
	}
	for _, s := range p99s {
		get(pairOf(s.Metric)).p99 = float64(s.Value)
	}

	// Each call is reported by the caller's sidecar and by the callee's; show the caller's
	// view when there is one (it includes failures to connect), else the callee's.
	chosen := map[[2]Node]pair{}
	for p := range byPair {
		k := [2]Node{p.from, p.to}
		if cur, ok := chosen[k]; !ok || (cur.reporter != "source" && p.reporter == "source") {
			chosen[k] = p
		}
	}
	var edges []Edge
	for _, p := range chosen {
		st := byPair[p]
		if !(st.rate > 0) { // no calls over the window (or NaN): the edge is gone
			continue
		}
		if o.Namespace != "" && p.from.Namespace != o.Namespace && p.to.Namespace != o.Namespace {
			continue
		}
		slices.Sort(st.services)
		edges = append(edges, Edge{From: p.from, To: p.to, Services: st.services, Rate: st.rate,
			ErrorRate: min(1, st.errs/st.rate), P99: st.p99, Reporter: p.reporter})
	}
	return build(o.At, o.Window, edges), nil
}

// instant runs an instant query that must answer a vector.
func instant(ctx context.Context, q Querier, expr string, at time.Time) (model.Vector, error) {
	v, _, _, err := q.Query(ctx, expr, at)
	if err != nil {
		return nil, fmt.Errorf("prometheus query %s: %w", expr, explain(err))
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("prometheus query %s: got a %s, want a vector", expr, v.Type())
	}
	return vec, nil
}

// explain adds what to check to the errors a user meets most: nothing listening, or a URL
// that is not Prometheus.
func explain(err error) error {
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		return err
	}
	if s := err.Error(); strings.Contains(s, "connection refused") || strings.Contains(s, "no such host") {
		return fmt.Errorf("%w (is Prometheus running? `kubectl -n meshlab-system get pods` on the lab)", err)
	}
	return err
}
