package local

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// startJaeger runs Jaeger all-in-one with in-memory storage. Its Zipkin receiver listens on the
// pods' bridge address (reachable from the pods and this host only); every other port, the
// query API included, on loopback. It returns the query API's base URL.
func startJaeger(t *testing.T, binary, dir string) string {
	t.Helper()
	query := freeLoopbackPort(t)
	zipkin := netip.AddrPortFrom(obsGateway, zipkinPort).String()
	p := startPeer(t, "jaeger", filepath.Join(dir, "jaeger.log"), []string{"SPAN_STORAGE_TYPE=memory"},
		binary,
		"--collector.zipkin.host-port="+zipkin,
		"--collector.otlp.enabled=false",
		"--collector.grpc-server.host-port="+freeLoopbackPort(t),
		"--collector.http-server.host-port="+freeLoopbackPort(t),
		"--query.http-server.host-port="+query,
		"--query.grpc-server.host-port="+freeLoopbackPort(t),
		"--admin.http.host-port="+freeLoopbackPort(t),
	)
	base := "http://" + query
	p.waitFor(t, "the query API and the Zipkin receiver", 60*time.Second, func() error {
		var services struct{ Data []string }
		if err := getJSON(base+"/api/services", &services); err != nil {
			return err
		}
		c, err := net.DialTimeout("tcp", zipkin, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	checkBoundPrivately(t, p)
	return base
}

// checkBoundPrivately fails the test if the peer listens on a wildcard address: only loopback
// and the pods' bridge may reach it (lab traffic only).
func checkBoundPrivately(t *testing.T, p *peer) {
	t.Helper()
	out, err := exec.Command("ss", "-Htlnp").Output()
	if err != nil {
		t.Logf("cannot list listeners (ss): %v", err)
		return
	}
	mark := fmt.Sprintf("pid=%d,", p.cmd.Process.Pid)
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if !strings.Contains(line, mark) || len(fields) < 4 {
			continue
		}
		local := fields[3]
		if strings.HasPrefix(local, "0.0.0.0:") || strings.HasPrefix(local, "*:") || strings.HasPrefix(local, "[::]:") {
			t.Errorf("%s listens on %s, reachable from outside this machine", p.name, local)
		}
	}
}

// Jaeger's query API JSON (/api/traces), the fields the test reads.
type jaegerTrace struct {
	TraceID   string `json:"traceID"`
	Spans     []jaegerSpan
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	}
}

type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	ProcessID     string `json:"processID"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	}
	Tags []struct {
		Key   string
		Value any
	}
}

// span is a trace's span with what the checks need resolved.
type span struct {
	id, parent, service, kind, name string
}

func (tr jaegerTrace) flatten() map[string]span {
	out := map[string]span{}
	for _, s := range tr.Spans {
		sp := span{id: s.SpanID, service: tr.Processes[s.ProcessID].ServiceName, name: s.OperationName}
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" {
				sp.parent = r.SpanID
			}
		}
		for _, tag := range s.Tags {
			if tag.Key == "span.kind" {
				sp.kind = fmt.Sprint(tag.Value)
			}
		}
		out[sp.id] = sp
	}
	return out
}

// checkTrace polls Jaeger until productpage's one trace holds the whole call tree, then checks
// its shape: productpage's server span is the root; each call is a client span of the caller,
// child of the caller's server span, with the callee's server span as its child.
func checkTrace(t *testing.T, query string) {
	t.Helper()
	var last error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var traces struct{ Data []jaegerTrace }
		u := query + "/api/traces?" + url.Values{"service": {"productpage.default"}, "limit": {"20"}, "lookback": {"1h"}}.Encode()
		if last = getJSON(u, &traces); last == nil {
			if len(traces.Data) > 1 {
				t.Fatalf("one request made %d traces for productpage.default, want 1", len(traces.Data))
			}
			if len(traces.Data) == 1 {
				if last = traceShape(traces.Data[0].flatten()); last == nil {
					t.Logf("trace %s: %d spans:%s", traces.Data[0].TraceID, len(traces.Data[0].Spans), describe(traces.Data[0].flatten()))
					return
				}
			} else {
				last = errors.New("no trace for productpage.default yet")
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("Jaeger never showed a complete trace within 30 s: %v", last)
}

// traceShape returns nil when spans form productpage→details and productpage→reviews→ratings.
func traceShape(spans map[string]span) error {
	var roots []span
	for _, s := range spans {
		if s.parent == "" {
			roots = append(roots, s)
		}
	}
	if len(roots) != 1 || roots[0].service != "productpage.default" || roots[0].kind != "server" {
		return fmt.Errorf("want one root, productpage's server span; roots: %v (all: %v)", roots, describe(spans))
	}
	// call finds the caller's client span under parent and the callee's server span under it.
	call := func(parent span, callee string) (span, error) {
		for _, c := range spans {
			if c.parent != parent.id || c.kind != "client" || c.service != parent.service {
				continue
			}
			for _, s := range spans {
				if s.parent == c.id && s.kind == "server" && s.service == callee {
					return s, nil
				}
			}
		}
		return span{}, fmt.Errorf("no %s client span → %s server span under %s's span %s; spans: %v",
			parent.service, callee, parent.service, parent.id, describe(spans))
	}
	if _, err := call(roots[0], "details.default"); err != nil {
		return err
	}
	reviews, err := call(roots[0], "reviews.default")
	if err != nil {
		return err
	}
	_, err = call(reviews, "ratings.default")
	return err
}

func describe(spans map[string]span) string {
	var lines []string
	for _, s := range spans {
		lines = append(lines, fmt.Sprintf("%s %s %s(parent %s) %q", s.service, s.kind, s.id, s.parent, s.name))
	}
	slices.Sort(lines)
	return "\n  " + strings.Join(lines, "\n  ")
}

// TestTraceShape checks the trace checker itself on hand-made span trees.
func TestTraceShape(t *testing.T) {
	good := map[string]span{
		"1": {id: "1", service: "productpage.default", kind: "server"},
		"2": {id: "2", parent: "1", service: "productpage.default", kind: "client"},
		"3": {id: "3", parent: "2", service: "details.default", kind: "server"},
		"4": {id: "4", parent: "1", service: "productpage.default", kind: "client"},
		"5": {id: "5", parent: "4", service: "reviews.default", kind: "server"},
		"6": {id: "6", parent: "5", service: "reviews.default", kind: "client"},
		"7": {id: "7", parent: "6", service: "ratings.default", kind: "server"},
	}
	if err := traceShape(good); err != nil {
		t.Fatalf("a correct tree was rejected: %v", err)
	}
	mutate := func(id string, f func(*span)) map[string]span {
		out := map[string]span{}
		for k, v := range good {
			out[k] = v
		}
		s := out[id]
		f(&s)
		out[id] = s
		return out
	}
	for name, bad := range map[string]map[string]span{
		// ratings' server span hangs off reviews' server span: the client span was not propagated.
		"server span not under the client span": mutate("7", func(s *span) { s.parent = "5" }),
		"client span reported as server":        mutate("2", func(s *span) { s.kind = "server" }),
		"two roots":                             mutate("5", func(s *span) { s.parent = "" }),
		"ratings missing":                       mutate("7", func(s *span) { s.service = "other.default" }),
	} {
		if err := traceShape(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
