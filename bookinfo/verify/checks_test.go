package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	f := &fakeLab{bookinfo: b, lab: Lab{
		Namespace:     testNS,
		Browser:       Browser{BaseURL: b.url, Timeout: 10 * time.Second},
		PrometheusURL: fakePrometheus(t, testNS).URL,
		TracingURL:    fakeZipkin(t, testNS).URL,
		GrafanaURL:    fakeGrafana(t, ds).URL,
		Dashboards:    ds,
		PodHTTP:       fakeSidecars(testNS, "mutual_tls"),
	}}
	kubeObjs = append(kubeObjs, addonObjects(t, "prometheus", "prometheus", f.lab.PrometheusURL, 1, 1)...)
	kubeObjs = append(kubeObjs, addonObjects(t, "zipkin", "zipkin", f.lab.TracingURL, 1, 1)...)
	kubeObjs = append(kubeObjs, addonObjects(t, "grafana", "grafana", f.lab.GrafanaURL, 1, 1)...)
	f.lab.Kube = fakeKube(kubeObjs...)
	return f
}

// down replaces an addon of the fake lab with one whose server is gone and whose Service has
// ready of total pods ready, as after `kubectl scale --replicas=0` (0 of 0) or a crash (0 of 1).
func (f *fakeLab) down(t *testing.T, url *string, service, app string, ready, total int) {
	t.Helper()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	*url = gone.URL
	objs := bookinfoPods(testNS)
	for _, a := range []struct{ svc, app, url string }{{"prometheus", "prometheus", f.lab.PrometheusURL},
		{"zipkin", "zipkin", f.lab.TracingURL}, {"grafana", "grafana", f.lab.GrafanaURL}} {
		if a.svc == service {
			objs = append(objs, addonObjects(t, service, app, *url, ready, total)...)
			continue
		}
		objs = append(objs, addonObjects(t, a.svc, a.app, a.url, 1, 1)...)
	}
	f.lab.Kube = fakeKube(objs...)
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
			want = Skipped // no router: the namespace-mesh tests cover the scenarios and policies
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

// runRetrying runs the suite as `meshlab verify bookinfo` does, with each check's retry budget,
// but an hour between retries: any check that waits to retry a failure outlives the context, so
// the run's returning with the context alive proves no check was retried.
func runRetrying(t *testing.T, l Lab) ([]Result, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, failed := Runner{Poll: time.Hour}.Run(ctx, Suite(l), nil)
	if ctx.Err() != nil {
		t.Fatal("a check waited to retry a failure that waiting cannot change")
	}
	return rs, failed
}

// Prometheus scaled to zero: every row that needs it fails at once (no retry budget spent on
// a refused connection), with the reason and the command that shows its pods.
func TestPrometheusDownFails(t *testing.T) {
	f := newFakeLab(t)
	f.down(t, &f.lab.PrometheusURL, "prometheus", "prometheus", 0, 0)
	rs, failed := runRetrying(t, f.lab)
	if !failed {
		t.Fatal("verify passed with Prometheus down")
	}
	rows := 0
	for _, r := range rs {
		if r.Category != "prometheus" && !strings.HasPrefix(r.Check, "queries: ") {
			// The fake lab has no router: routing scenarios and the PeerAuthentication checks skip.
			if r.Status != Passed && !(r.Status == Skipped && (r.Category == "routing" || r.Category == "security")) {
				t.Errorf("unrelated row %s/%s: %s %s", r.Category, r.Check, r.Status, r.Error)
			}
			continue
		}
		rows++
		if r.Status != Failed || r.Error != "prometheus: no ready endpoints for service prometheus in meshlab-system (no pods)" ||
			r.Observed != "no pods" || !strings.Contains(r.Hint, "kubectl -n meshlab-system get deploy,pods -l app=prometheus") {
			t.Errorf("%s/%s: %+v", r.Category, r.Check, r)
		}
	}
	if rows != 3+len(f.lab.Dashboards) {
		t.Errorf("%d rows depend on Prometheus, want %d", rows, 3+len(f.lab.Dashboards))
	}
}

// The tracing backend (Jaeger in Zipkin's place) scaled to zero: tracing FAILED with the reason,
// never "not in the offline bundle" — its image is in the bundle, it was installed.
func TestTracingBackendDownFails(t *testing.T) {
	f := newFakeLab(t)
	f.down(t, &f.lab.TracingURL, "zipkin", "jaeger", 0, 1)
	f.lab.Absent = map[string]error{AddonGrafana: fmt.Errorf("%w: the bundle has no grafana image", ErrNotInBundle)}
	rs, failed := runRetrying(t, f.lab)
	r := find(t, rs, "tracing", "trace")
	if !failed || r.Status != Failed ||
		r.Error != "tracing: no ready endpoints for service zipkin in meshlab-system (0/1 pods ready)" ||
		!strings.Contains(r.Hint, "kubectl -n meshlab-system get deploy,pods -l app=jaeger") {
		t.Fatalf("tracing/trace: %+v", r)
	}
}

// An addon whose Service is gone (uninstalled) is FAILED as not installed, never "not in the
// offline bundle": only the bundle's manifest can say that.
func TestUninstalledAddonFails(t *testing.T) {
	f := newFakeLab(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	f.lab.GrafanaURL = gone.URL
	rs, _ := runRetrying(t, f.lab)
	for _, c := range []string{"health", "dashboards"} {
		r := find(t, rs, "grafana", c)
		if r.Status != Failed || !strings.Contains(r.Error, "grafana is not installed") || !strings.Contains(r.Hint, "meshlab addons install") {
			t.Errorf("grafana/%s: %+v", c, r)
		}
	}
}

// Offline, an addon whose image the bundle lacks is reported as such, never as passed, and
// without probing it.
func TestOfflineMissingGrafanaIsNotInBundle(t *testing.T) {
	f := newFakeLab(t)
	f.lab.GrafanaURL = "http://192.0.2.1:30002" // never dialled: nothing is installed there
	f.lab.Absent = map[string]error{AddonGrafana: fmt.Errorf("%w: /srv/bundle has no docker.io/grafana/grafana:12.0.1", ErrNotInBundle)}
	rs, failed := run(t, f.lab)
	for _, c := range []string{"health", "dashboards"} {
		if r := find(t, rs, "grafana", c); r.Status != NotInBundle || !strings.Contains(r.Error, "/srv/bundle has no") {
			t.Errorf("grafana/%s offline: %+v", c, r)
		}
	}
	if r := find(t, rs, "grafana", "queries: meshlab Service"); r.Status != Passed {
		t.Errorf("dashboard queries run against Prometheus even without Grafana: %+v", r)
	}
	if failed {
		t.Fatal("not-in-bundle rows must not fail the run")
	}
}

// An addon the lab does not choose is skipped with the reason, not probed.
func TestUnchosenAddonIsSkipped(t *testing.T) {
	f := newFakeLab(t)
	f.lab.Absent = map[string]error{AddonTracing: Skip("components.addons has no zipkin or jaeger")}
	rs, failed := run(t, f.lab)
	if r := find(t, rs, "tracing", "trace"); r.Status != Skipped || r.Observed != "components.addons has no zipkin or jaeger" {
		t.Fatalf("tracing/trace: %+v", r)
	}
	if failed {
		t.Fatal("a skipped addon must not fail the run")
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
