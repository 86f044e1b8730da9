package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// promResponse is the envelope of Prometheus' HTTP API (its docs/querying/api.md).
type promResponse[T any] struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      T      `json:"data"`
}

type promVector struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
	} `json:"result"`
}

type promTargets struct {
	ActiveTargets []struct {
		Labels     map[string]string `json:"labels"`
		ScrapePool string            `json:"scrapePool"`
		ScrapeURL  string            `json:"scrapeUrl"`
		Health     string            `json:"health"`
		LastError  string            `json:"lastError"`
	} `json:"activeTargets"`
}

// query runs an instant PromQL query and returns the result's label sets.
func (a api) query(ctx context.Context, base, q string) ([]map[string]string, error) {
	var r promResponse[promVector]
	if err := a.getJSON(ctx, base+"/api/v1/query?query="+url.QueryEscape(q), &r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", q, r.ErrorType, r.Error)
	}
	out := make([]map[string]string, 0, len(r.Data.Result))
	for _, s := range r.Data.Result {
		out = append(out, s.Metric)
	}
	return out, nil
}

func prometheusReady(a api, base string) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		code, body, err := a.get(ctx, base+"/-/ready")
		if err != nil {
			return Observation{Observed: "unreachable"}, err
		}
		o := Observation{Observed: fmt.Sprintf("HTTP %d %s", code, strings.TrimSpace(string(body)))}
		if code != http.StatusOK {
			return o, errors.New("not ready to serve queries")
		}
		return o, nil
	}
}

// sidecarTargets checks that Prometheus scrapes the Bookinfo pods (their sidecars' merged
// metrics) and that every such target is up.
func sidecarTargets(a api, base, namespace string) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		var r promResponse[promTargets]
		if err := a.getJSON(ctx, base+"/api/v1/targets?state=active", &r); err != nil {
			return Observation{Observed: "unreachable"}, err
		}
		var up, total int
		var down []string
		for _, t := range r.Data.ActiveTargets {
			if t.Labels["namespace"] != namespace {
				continue
			}
			total++
			if t.Health == "up" {
				up++
			} else {
				down = append(down, fmt.Sprintf("%s %s: %s", t.Labels["pod"], t.Health, t.LastError))
			}
		}
		o := Observation{Observed: fmt.Sprintf("%d of %d %s targets up", up, total, namespace)}
		switch {
		case total < 6:
			return o, fmt.Errorf("want a target for each of the 6 Bookinfo pods in %s, found %d", namespace, total)
		case len(down) > 0:
			o.Detail = strings.Join(down, "; ")
			return o, errors.New("some sidecar targets are down")
		}
		return o, nil
	}
}

// bookinfoServices are the four services istio_requests_total must name.
var bookinfoServices = []string{"details", "productpage", "ratings", "reviews"}

// requestSeries checks istio_requests_total has series for every Bookinfo service; it sends a
// few requests first so a quiet lab has something to report.
func requestSeries(a api, base, namespace string, b Browser) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		if _, err := b.Count(ctx, nil, 5); err != nil {
			return Observation{Observed: "no traffic"}, err
		}
		q := fmt.Sprintf(`count by (destination_service_name) (istio_requests_total{destination_service_namespace=%q})`, namespace)
		series, err := a.query(ctx, base, q)
		if err != nil {
			return Observation{Observed: "query failed"}, err
		}
		var have []string
		for _, s := range series {
			have = append(have, s["destination_service_name"])
		}
		slices.Sort(have)
		o := Observation{Observed: "series for " + strings.Join(have, ", ")}
		var missing []string
		for _, s := range bookinfoServices {
			if !slices.Contains(have, s) {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			return o, fmt.Errorf("istio_requests_total has no series for %s", strings.Join(missing, ", "))
		}
		return o, nil
	}
}
