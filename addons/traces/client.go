package traces

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Backend names the API a Client found.
type Backend string

const (
	Zipkin Backend = "zipkin"
	Jaeger Backend = "jaeger"
)

// Client reads traces from a Zipkin or Jaeger server at Base (e.g. http://10.0.0.1:30001).
type Client struct {
	Base string
	HTTP *http.Client // default: a client with a 10 s timeout
}

// Query selects recent traces.
type Query struct {
	Service  string        // only traces through this service ("" for all)
	Limit    int           // at most this many traces (default 20)
	Lookback time.Duration // how far back (default 1h)
	End      time.Time     // the end of the range (default now)
}

func (c Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// errNotFound is a 404: the path is not this backend's API.
var errNotFound = errors.New("not found")

func (c Client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	u := strings.TrimSuffix(c.Base, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("GET %s: %w", u, errNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// Backend says which API the server speaks: Zipkin's /api/v2 first, then Jaeger's /api.
func (c Client) Backend(ctx context.Context) (Backend, error) {
	var services []string
	zerr := c.getJSON(ctx, "/api/v2/services", nil, &services)
	if zerr == nil {
		return Zipkin, nil
	}
	var js jaegerServices
	jerr := c.getJSON(ctx, "/api/services", nil, &js)
	if jerr == nil {
		return Jaeger, nil
	}
	return "", fmt.Errorf("%s answers neither Zipkin's API (/api/v2) nor Jaeger's (/api): %w", c.Base, errors.Join(zerr, jerr))
}

// Recent returns the newest traces the query selects, newest first.
func (c Client) Recent(ctx context.Context, q Query) ([]Trace, Backend, error) {
	if q.Limit <= 0 {
		q.Limit = 20
	}
	if q.Lookback <= 0 {
		q.Lookback = time.Hour
	}
	if q.End.IsZero() {
		q.End = time.Now()
	}
	b, err := c.Backend(ctx)
	if err != nil {
		return nil, "", err
	}
	var ts []Trace
	switch b {
	case Zipkin:
		ts, err = c.zipkinRecent(ctx, q)
	default:
		ts, err = c.jaegerRecent(ctx, q)
	}
	if err != nil {
		return nil, b, err
	}
	newestFirst(ts)
	if len(ts) > q.Limit {
		ts = ts[:q.Limit]
	}
	return ts, b, nil
}

// Trace returns one trace by its ID.
func (c Client) Trace(ctx context.Context, id string) (Trace, Backend, error) {
	b, err := c.Backend(ctx)
	if err != nil {
		return Trace{}, "", err
	}
	var t Trace
	switch b {
	case Zipkin:
		var spans []zipkinSpan
		err = c.getJSON(ctx, "/api/v2/trace/"+url.PathEscape(id), nil, &spans)
		t = fromZipkin(spans)
	default:
		var jt jaegerTraces
		err = c.getJSON(ctx, "/api/traces/"+url.PathEscape(id), nil, &jt)
		if err == nil && len(jt.Data) == 0 {
			err = errNotFound
		}
		if err == nil {
			t = jt.Data[0].trace()
		}
	}
	if errors.Is(err, errNotFound) {
		return Trace{}, b, fmt.Errorf("trace %s: not in %s (traces are kept in memory for a while; list recent ones without an ID)", id, b)
	}
	if err != nil {
		return Trace{}, b, err
	}
	return t, b, nil
}

func (c Client) zipkinRecent(ctx context.Context, q Query) ([]Trace, error) {
	v := url.Values{"limit": {strconv.Itoa(q.Limit)}, "endTs": {strconv.FormatInt(q.End.UnixMilli(), 10)},
		"lookback": {strconv.FormatInt(q.Lookback.Milliseconds(), 10)}}
	if q.Service != "" {
		v.Set("serviceName", q.Service)
	}
	var raw [][]zipkinSpan
	if err := c.getJSON(ctx, "/api/v2/traces", v, &raw); err != nil {
		return nil, err
	}
	var out []Trace
	for _, spans := range raw {
		if t := fromZipkin(spans); len(t.Spans) > 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

// jaegerRecent asks per service (Jaeger's search needs one) and merges the answers.
func (c Client) jaegerRecent(ctx context.Context, q Query) ([]Trace, error) {
	services := []string{q.Service}
	if q.Service == "" {
		var js jaegerServices
		if err := c.getJSON(ctx, "/api/services", nil, &js); err != nil {
			return nil, err
		}
		services = js.Data
	}
	seen := map[string]bool{}
	var out []Trace
	for _, svc := range services {
		if strings.HasPrefix(svc, "jaeger") { // Jaeger's own spans, not the lab's
			continue
		}
		v := url.Values{"service": {svc}, "limit": {strconv.Itoa(q.Limit)},
			"start": {strconv.FormatInt(q.End.Add(-q.Lookback).UnixMicro(), 10)}, "end": {strconv.FormatInt(q.End.UnixMicro(), 10)}}
		var jt jaegerTraces
		if err := c.getJSON(ctx, "/api/traces", v, &jt); err != nil {
			return nil, err
		}
		for _, d := range jt.Data {
			if t := d.trace(); !seen[t.ID] && len(t.Spans) > 0 {
				seen[t.ID] = true
				out = append(out, t)
			}
		}
	}
	return out, nil
}
