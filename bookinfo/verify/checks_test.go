package verify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

const testNS = "bookinfo"

// fakeLab is a healthy lab: real Go Bookinfo on loopback, fake clientset, and API fakes.
type fakeLab struct {
	bookinfo *fakeBookinfo
	lab      Lab
}

func newFakeLab(t *testing.T, kubeObjs ...runtime.Object) *fakeLab {
	t.Helper()
	if kubeObjs == nil {
		kubeObjs = bookinfoPods(testNS)
	}
	ds, err := EmbeddedDashboards()
	if err != nil {
		t.Fatal(err)
	}
	b := newFakeBookinfo(t)
	return &fakeLab{bookinfo: b, lab: Lab{
		Namespace:     testNS,
		Kube:          fakeKube(kubeObjs...),
		Browser:       Browser{BaseURL: b.url, Timeout: 10 * time.Second},
		PrometheusURL: fakePrometheus(t, testNS).URL,
		TracingURL:    fakeZipkin(t, testNS).URL,
		GrafanaURL:    fakeGrafana(t, ds).URL,
		Dashboards:    ds,
		PodHTTP:       fakeSidecars(testNS, "mutual_tls"),
	}}
}

func run(t *testing.T, l Lab) ([]Result, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return Runner{NoRetry: true, Poll: time.Millisecond}.Run(ctx, Suite(l), nil)
}

func find(t *testing.T, rs []Result, cat, check string) Result {
	t.Helper()
	for _, r := range rs {
		if r.Category == cat && r.Check == check {
			return r
		}
	}
	t.Fatalf("no result %s/%s", cat, check)
	return Result{}
}

func TestHealthyLabPasses(t *testing.T) {
	f := newFakeLab(t)
	rs, failed := run(t, f.lab)
	for _, r := range rs {
		want := Passed
		if r.Category == "routing" || r.Category == "security" && r.Check != "mtls-hops" {
			want = Skipped // no router: the namespace-mesh test covers the scenarios and policies
		}
		if r.Status != want {
			t.Errorf("%s/%s: %s (%s), want %s", r.Category, r.Check, r.Status, r.Error, want)
		}
	}
	if failed {
		t.Fatal("a healthy lab must not fail")
	}
}

func TestTracingThroughJaegerAPI(t *testing.T) {
	f := newFakeLab(t)
	f.lab.TracingURL = fakeJaeger(t, testNS).URL
	rs, _ := run(t, f.lab)
	if r := find(t, rs, "tracing", "trace"); r.Status != Passed || !strings.HasPrefix(r.Observed, "jaeger:") {
		t.Fatalf("trace through Jaeger: %+v", r)
	}
}

// A reviews version scaled to zero: the pods row fails and names the missing workload.
func TestReviewsScaledToZeroFails(t *testing.T) {
	f := newFakeLab(t, bookinfoPods(testNS, "reviews-v2")...)
	f.bookinfo.scaleToZero("v2")
	rs, failed := run(t, f.lab)
	if !failed {
		t.Fatal("verify passed with reviews-v2 at zero replicas")
	}
	r := find(t, rs, "cluster", "pods-ready")
	if r.Status != Failed || !strings.Contains(r.Error, "reviews-v2: no pod") || !strings.Contains(r.Hint, "kubectl scale") {
		t.Fatalf("pods-ready: %+v", r)
	}
	// The row is fatal: what depends on Bookinfo is not run against a broken lab.
	if r := find(t, rs, "bookinfo", "productpage"); r.Status != Skipped {
		t.Fatalf("productpage after a fatal failure: %s", r.Status)
	}
}

// Without the pod check (as on the namespace mesh), the missing version shows in the page counts.
func TestReviewsScaledToZeroSeenInPages(t *testing.T) {
	f := newFakeLab(t)
	f.lab.Kube = nil
	f.bookinfo.scaleToZero("v2")
	rs, _ := run(t, f.lab)
	r := find(t, rs, "bookinfo", "all-versions")
	if r.Status != Failed || !strings.Contains(r.Error, "no page from reviews v2") || !strings.Contains(r.Observed, "v2=0") {
		t.Fatalf("all-versions: %+v", r)
	}
}

func TestControlPlaneDownFails(t *testing.T) {
	objs := bookinfoPods(testNS)
	objs[len(objs)-1] = pod(DefaultControlPlaneNamespace, "meshlab-pilot-xyz", map[string]string{"app": "meshlab-pilot"}, 0, 1)
	f := newFakeLab(t, objs...)
	rs, failed := run(t, f.lab)
	r := find(t, rs, "cluster", "control-plane")
	if !failed || r.Status != Failed || !strings.Contains(r.Error, "control plane is down") || !strings.Contains(r.Error, "0/1") {
		t.Fatalf("control-plane: %+v", r)
	}
	for _, other := range rs[1:] {
		if other.Status != Skipped {
			t.Errorf("%s/%s ran after the control plane failed: %s", other.Category, other.Check, other.Status)
		}
	}
}

func TestControlPlaneStatusUnreachableFails(t *testing.T) {
	f := newFakeLab(t)
	kube := fakeKube(bookinfoPods(testNS)...)
	kube.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() == DefaultControlPlaneNamespace {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	f.lab.Kube = kube
	rs, _ := run(t, f.lab)
	r := find(t, rs, "cluster", "control-plane")
	if r.Status != Failed || r.Observed != "status unreachable" || !strings.Contains(r.Error, "connection refused") {
		t.Fatalf("control-plane: %+v", r)
	}
}

func TestPrometheusDownFails(t *testing.T) {
	f := newFakeLab(t)
	prom := fakePrometheus(t, testNS)
	prom.Close()
	f.lab.PrometheusURL = prom.URL
	rs, failed := run(t, f.lab)
	r := find(t, rs, "prometheus", "ready")
	if !failed || r.Status != Failed || r.Observed != "unreachable" || !strings.Contains(r.Hint, "30003") {
		t.Fatalf("prometheus/ready: %+v", r)
	}
	if r := find(t, rs, "grafana", "queries: meshlab Mesh Overview"); r.Status != Failed {
		t.Fatalf("dashboard queries with Prometheus down: %+v", r)
	}
	if r := find(t, rs, "bookinfo", "productpage"); r.Status != Passed {
		t.Fatalf("unrelated rows must still pass: %+v", r)
	}
}

// Offline, the components the bundle cannot carry are reported as such, never as passed.
func TestOfflineMissingGrafanaIsNotInBundle(t *testing.T) {
	f := newFakeLab(t)
	gone := fakeGrafana(t, nil)
	gone.Close()
	f.lab.GrafanaURL, f.lab.Offline = gone.URL, true
	rs, failed := run(t, f.lab)
	for _, c := range []string{"health", "dashboards"} {
		if r := find(t, rs, "grafana", c); r.Status != NotInBundle {
			t.Errorf("grafana/%s offline: %s", c, r.Status)
		}
	}
	if r := find(t, rs, "grafana", "queries: meshlab Service"); r.Status != Passed {
		t.Errorf("dashboard queries run against Prometheus even without Grafana: %+v", r)
	}
	if failed {
		t.Fatal("not-in-bundle rows must not fail the run")
	}
}

func TestQuickRunsSmokeChecksOnly(t *testing.T) {
	f := newFakeLab(t)
	rs, _ := Runner{Quick: true, NoRetry: true}.Run(context.Background(), Suite(f.lab), nil)
	for _, r := range rs {
		quick := map[string]bool{"control-plane": true, "pods-ready": true, "productpage": true, "ready": true, "health": true}[r.Check]
		if quick != (r.Status != Skipped) {
			t.Errorf("--quick: %s/%s is %s", r.Category, r.Check, r.Status)
		}
	}
}

// A hop in plaintext between sidecars fails the mTLS row, naming the hop.
func TestPlaintextHopFails(t *testing.T) {
	f := newFakeLab(t)
	f.lab.PodHTTP = fakeSidecars(testNS, "none")
	rs, failed := run(t, f.lab)
	r := find(t, rs, "security", "mtls-hops")
	if !failed || r.Status != Failed || !strings.Contains(r.Error, "plaintext between sidecars") || !strings.Contains(r.Error, "reviews->ratings") {
		t.Fatalf("mtls-hops: %+v", r)
	}
}

func TestParseRequestSeriesKeepsQuotedCommas(t *testing.T) {
	got := parseRequestSeries(`istio_requests_total{a="x,y",b="2"} 1` + "\n" + `other{a="1"} 2`)
	if len(got) != 1 || got[0]["a"] != "x,y" || got[0]["b"] != "2" {
		t.Fatalf("%v", got)
	}
}
