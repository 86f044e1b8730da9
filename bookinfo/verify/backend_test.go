package verify

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// closedURL is a loopback address where nothing listens: a real "connection refused".
func closedURL(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	return s.URL
}

// getErr is what the checks' HTTP client returns for url.
func getErr(t *testing.T, url string, timeout time.Duration) error {
	t.Helper()
	_, _, err := api{client: &http.Client{Timeout: timeout}}.get(context.Background(), url)
	if err == nil {
		t.Fatalf("GET %s answered", url)
	}
	return err
}

// A listener that accepts and never answers: a backend that hangs, which may yet answer.
func hangingURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestClassifyErrors(t *testing.T) {
	refusedErr := getErr(t, closedURL(t), time.Second)
	timeoutErr := getErr(t, hangingURL(t), 100*time.Millisecond)
	proxy503 := &statusError{url: "https://api:6443/api/v1/namespaces/meshlab-system/services/prometheus:9090/proxy/-/ready", code: 503,
		body: `{"kind":"Status","status":"Failure","message":"no endpoints available for service \"prometheus\"","reason":"ServiceUnavailable","code":503}`}
	notReady := &statusError{url: "http://node:30003/api/v1/query", code: 503, body: "Service Unavailable"}
	cases := []struct {
		name              string
		err               error
		noAnswer, refused bool
	}{
		{"connection refused", refusedErr, true, true},
		{"timeout", timeoutErr, true, false},
		{"API server proxy: no endpoints", proxy503, true, true},
		{"a backend answering 503 while it starts", notReady, false, false},
		{"an answer that is not JSON", errors.New("GET x: not the expected JSON"), false, false},
	}
	for _, c := range cases {
		if got := noAnswer(c.err); got != c.noAnswer {
			t.Errorf("%s: noAnswer = %v, want %v (%v)", c.name, got, c.noAnswer, c.err)
		}
		if got := refused(c.err); got != c.refused {
			t.Errorf("%s: refused = %v, want %v (%v)", c.name, got, c.refused, c.err)
		}
	}
}

func TestDiagnose(t *testing.T) {
	url := closedURL(t) // its port stands for the NodePort
	refusedErr := getErr(t, url, time.Second)
	timeoutErr := getErr(t, hangingURL(t), 100*time.Millisecond)
	listFails := fakeKube()
	listFails.PrependReactor("list", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("the server is currently unable to handle the request")
	})
	cases := []struct {
		name     string
		b        backend
		err      error
		observed string // "" = not down: the check may retry
		reason   string
		hint     string
	}{
		{"scaled to zero", backend{name: "tracing", url: url, kube: fakeKube(addonObjects(t, "zipkin", "jaeger", url, 0, 0)...)},
			refusedErr, "no pods", "tracing: no ready endpoints for service zipkin in meshlab-system (no pods)", "get deploy,pods -l app=jaeger"},
		{"pod not ready", backend{name: "tracing", url: url, kube: fakeKube(addonObjects(t, "zipkin", "jaeger", url, 0, 1)...)},
			timeoutErr, "0/1 pods ready", "tracing: no ready endpoints for service zipkin in meshlab-system (0/1 pods ready)", "scale deploy -l app=jaeger"},
		{"ready endpoints: it may pass", backend{name: "prometheus", url: url, kube: fakeKube(addonObjects(t, "prometheus", "prometheus", url, 1, 1)...)},
			refusedErr, "", "", ""},
		{"not installed", backend{name: "grafana", url: url, kube: fakeKube()},
			refusedErr, "no service", "grafana: no service in the cluster has NodePort", "meshlab addons install"},
		{"no cluster, refused", backend{name: "prometheus", url: url}, refusedErr, "connection refused", "prometheus: connection refused at " + url, ""},
		{"no cluster, timeout", backend{name: "prometheus", url: url}, timeoutErr, "", "", ""},
		{"cluster cannot say, refused", backend{name: "prometheus", url: url, kube: listFails},
			refusedErr, "connection refused", "the cluster could not say why", ""},
		{"cluster cannot say, timeout", backend{name: "prometheus", url: url, kube: listFails}, timeoutErr, "", "", ""},
	}
	for _, c := range cases {
		d := c.b.diagnose(context.Background(), c.err)
		if c.observed == "" {
			if d != nil {
				t.Errorf("%s: diagnosed down (%s): the check must be allowed to retry", c.name, d.err)
			}
			continue
		}
		switch {
		case d == nil:
			t.Errorf("%s: not diagnosed down", c.name)
		case d.observed != c.observed || !strings.Contains(d.err.Error(), c.reason) || !strings.Contains(d.err.Hint, c.hint):
			t.Errorf("%s: observed %q, error %q, hint %q", c.name, d.observed, d.err.Error(), d.err.Hint)
		case !errors.Is(d.err, c.err):
			t.Errorf("%s: the DownError must wrap what the request saw", c.name)
		}
	}
}

// A down backend is reported at once with its own hint; an unanswered request to a backend with
// ready endpoints is retried within the check's budget.
func TestRunnerRetriesOnlyWhatMayPass(t *testing.T) {
	url := closedURL(t)
	calls := 0
	probe := func(ctx context.Context) (Observation, error) {
		calls++
		_, _, err := api{client: http.DefaultClient}.get(ctx, url)
		return Observation{Observed: "unreachable"}, err
	}
	runOne := func(b backend, retry time.Duration) Result {
		calls = 0
		rs, _ := Runner{Poll: time.Millisecond}.Run(context.Background(), []Category{{Name: "x",
			Checkers: []Checker{{Name: "c", Hint: "the check's own hint", Retry: retry, Check: b.check(probe)}}}}, nil)
		return rs[0]
	}
	down := backend{name: "prometheus", url: url, kube: fakeKube(addonObjects(t, "prometheus", "prometheus", url, 0, 1)...)}
	r := runOne(down, time.Hour) // a retry would spin for an hour
	if calls != 1 || r.Status != Failed || !strings.Contains(r.Hint, "get deploy,pods -l app=prometheus") || r.Observed != "0/1 pods ready" {
		t.Fatalf("down backend: %d calls, %+v", calls, r)
	}
	mayPass := backend{name: "prometheus", url: url, kube: fakeKube(addonObjects(t, "prometheus", "prometheus", url, 1, 1)...)}
	r = runOne(mayPass, 50*time.Millisecond)
	if calls < 2 || r.Status != Failed || r.Hint != "the check's own hint" {
		t.Fatalf("backend with ready endpoints: %d calls, %+v", calls, r)
	}
}

// A Bookinfo workload with no pod at all fails at once; one still becoming ready is waited for.
func TestPodlessWorkloadIsNotRetried(t *testing.T) {
	kube := fakeKube(bookinfoPods(testNS, "reviews-v3")...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a retry would wait an hour
	defer cancel()
	rs, _ := Runner{Poll: time.Hour}.Run(ctx, []Category{{Name: "cluster",
		Checkers: []Checker{{Name: "pods-ready", Retry: time.Hour, Check: podsReady(kube, testNS)}}}}, nil)
	if ctx.Err() != nil || rs[0].Status != Failed || !strings.Contains(rs[0].Error, "reviews-v3: no pod") {
		t.Fatalf("pods-ready: %+v", rs[0])
	}
	objs := bookinfoPods(testNS, "reviews-v3")
	objs = append(objs, pod(testNS, "reviews-v3-new", map[string]string{"app": "reviews", "version": "v3"}, 1, 2))
	_, err := podsReady(fakeKube(objs...), testNS)(context.Background())
	if err == nil || isFinal(err) {
		t.Fatalf("a pod whose sidecar is not ready yet: %v (final %v), want a failure the runner retries", err, isFinal(err))
	}
}
