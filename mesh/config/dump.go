package config

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Dump writes a readable, stable text form of the table: hosts with their ordered routes, then
// clusters with endpoints and policies. Golden tests compare it; `meshlab mesh proxy --dump`
// prints it so a user can see what the proxy will do with their files.
func (t *Table) Dump(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "proxy %s namespace=%s workload=%s ip=%v labels=%s\n",
		t.Proxy.ID, t.Proxy.Namespace, t.Proxy.Workload, t.Proxy.IP, labelString(t.Proxy.Labels))
	if t.Inbound.ModeFor(0) != MTLSPermissive || len(t.Inbound.Ports) > 0 { // PERMISSIVE is the default
		fmt.Fprintf(&b, "inbound mtls=%s\n", t.Inbound)
	}
	for _, h := range t.Hosts {
		src := h.VirtualService
		if src == "" {
			src = "(default)"
		}
		fmt.Fprintf(&b, "host %s:%d protocol=%s from=%s\n", h.FQDN, h.Port, orAuto(h.Protocol), src)
		for _, r := range h.Routes {
			fmt.Fprintf(&b, "  route %s", r.Name)
			if r.Timeout > 0 {
				fmt.Fprintf(&b, " timeout=%v", r.Timeout)
			}
			fmt.Fprintf(&b, " retries=%d", r.Retry.Attempts)
			if r.Retry.PerTryTimeout > 0 {
				fmt.Fprintf(&b, " perTry=%v", r.Retry.PerTryTimeout)
			}
			fmt.Fprintf(&b, " retryOn=%s\n", r.Retry.On)
			for _, m := range r.Matches {
				fmt.Fprintf(&b, "    match %s\n", m)
			}
			if f := r.Fault; f != nil {
				if f.Delay > 0 {
					fmt.Fprintf(&b, "    fault delay %v to %g%%\n", f.Delay, f.DelayPercent)
				}
				if f.AbortStatus != 0 {
					fmt.Fprintf(&b, "    fault abort %d to %g%%\n", f.AbortStatus, f.AbortPercent)
				}
			}
			for _, d := range r.Destinations {
				fmt.Fprintf(&b, "    -> %s weight=%d/%d\n", d.Cluster.Name, d.Weight, r.TotalWeight)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.Clusters)) {
		c := t.Clusters[name]
		fmt.Fprintf(&b, "cluster %s lb=%s connectTimeout=%v", c.Name, c.LB, c.Pool.ConnectTimeout)
		if c.Pool.MaxConnections > 0 || c.Pool.MaxRequests > 0 || c.Pool.MaxPendingRequests > 0 {
			fmt.Fprintf(&b, " maxConnections=%d maxRequests=%d maxPending=%d", c.Pool.MaxConnections, c.Pool.MaxRequests, c.Pool.MaxPendingRequests)
		}
		if o := c.Outlier; o != nil {
			fmt.Fprintf(&b, " outlier(5xx=%d gateway=%d interval=%v eject=%v max=%d%%)",
				o.Consecutive5xx, o.ConsecutiveGateway, o.Interval, o.BaseEjectionTime, o.MaxEjectionPercent)
		}
		if c.TLS.Mode != TLSAuto {
			fmt.Fprintf(&b, " tls=%s", c.TLS.Mode)
			if c.TLS.SNI != "" {
				fmt.Fprintf(&b, " sni=%s", c.TLS.SNI)
			}
		}
		b.WriteByte('\n')
		for _, e := range c.Endpoints {
			fmt.Fprintf(&b, "  endpoint %s workload=%s labels=%s", e.Addr, e.Workload, labelString(e.Labels))
			if c.MeshTLSTo(e) {
				b.WriteString(" mtls")
				if e.Identity != "" {
					b.WriteString(" identity=" + e.Identity)
				}
			}
			b.WriteByte('\n')
		}
	}
	for _, w := range t.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// String renders a match block as its ANDed conditions.
func (m *Match) String() string {
	var parts []string
	add := func(field string, sm *StringMatcher) {
		if sm != nil {
			parts = append(parts, field+" "+sm.Kind.String()+" "+fmt.Sprintf("%q", sm.Value))
		}
	}
	add("uri", m.URI)
	add("method", m.Method)
	add("authority", m.Authority)
	add("scheme", m.Scheme)
	for i := range m.Headers {
		add("header "+m.Headers[i].Name, &m.Headers[i].StringMatcher)
	}
	for i := range m.WithoutHeaders {
		add("without header "+m.WithoutHeaders[i].Name, &m.WithoutHeaders[i].StringMatcher)
	}
	for i := range m.Query {
		add("query "+m.Query[i].Name, &m.Query[i].StringMatcher)
	}
	if len(parts) == 0 {
		return "any"
	}
	return strings.Join(parts, " AND ")
}

// String lists the retry conditions in Istio's spelling.
func (r RetryOn) String() string {
	var parts []string
	for _, c := range []struct {
		on   bool
		name string
	}{{r.FiveXX, "5xx"}, {r.GatewayError, "gateway-error"}, {r.ConnectFailure, "connect-failure"},
		{r.RefusedStream, "refused-stream"}, {r.Reset, "reset"}, {r.Retriable4xx, "retriable-4xx"}} {
		if c.on {
			parts = append(parts, c.name)
		}
	}
	parts = append(parts, r.GRPC...)
	for _, code := range r.Codes {
		parts = append(parts, fmt.Sprint(code))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

func labelString(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func orAuto(p Protocol) string {
	if p == ProtocolAuto {
		return "auto"
	}
	return string(p)
}
