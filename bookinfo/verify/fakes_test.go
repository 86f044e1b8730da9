package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshlab/meshlab/bookinfo/serve"
)

// fakeBookinfo runs the real Go Bookinfo services on loopback; a round-robin balancer stands
// in for the reviews Service, so a version can be "scaled to zero".
type fakeBookinfo struct {
	url      string
	mu       sync.Mutex
	reviews  map[string]*url.URL
	disabled map[string]bool
	next     atomic.Uint64
}

func startService(t *testing.T, service, version string, env map[string]string) *httptest.Server {
	t.Helper()
	h, err := serve.Handler(serve.Config{Service: service, Version: version, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func hostPort(t *testing.T, s *httptest.Server) (string, string) {
	u, _ := url.Parse(s.URL)
	h, p, err := net.SplitHostPort(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func newFakeBookinfo(t *testing.T) *fakeBookinfo {
	t.Helper()
	f := &fakeBookinfo{reviews: map[string]*url.URL{}, disabled: map[string]bool{}}
	ratings := startService(t, "ratings", "v1", nil)
	rh, rp := hostPort(t, ratings)
	for _, v := range []string{"v1", "v2", "v3"} {
		s := startService(t, "reviews", v, map[string]string{"RATINGS_HOSTNAME": rh, "RATINGS_SERVICE_PORT": rp, "HOSTNAME": "reviews-" + v + "-0"})
		f.reviews[v], _ = url.Parse(s.URL)
	}
	lb := httptest.NewServer(http.HandlerFunc(f.balance))
	t.Cleanup(lb.Close)
	details := startService(t, "details", "v1", nil)
	dh, dp := hostPort(t, details)
	lh, lp := hostPort(t, lb)
	pp := startService(t, "productpage", "v1", map[string]string{"DETAILS_HOSTNAME": dh, "DETAILS_SERVICE_PORT": dp,
		"REVIEWS_HOSTNAME": lh, "REVIEWS_SERVICE_PORT": lp, "RATINGS_HOSTNAME": rh, "RATINGS_SERVICE_PORT": rp})
	f.url = pp.URL
	return f
}

func (f *fakeBookinfo) balance(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	var up []string
	for _, v := range []string{"v1", "v2", "v3"} {
		if !f.disabled[v] {
			up = append(up, v)
		}
	}
	f.mu.Unlock()
	if len(up) == 0 {
		http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
		return
	}
	v := up[f.next.Add(1)%uint64(len(up))]
	httputil.NewSingleHostReverseProxy(f.reviews[v]).ServeHTTP(w, r)
}

func (f *fakeBookinfo) scaleToZero(version string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disabled[version] = true
}

// bookinfoPods are the six pods of a healthy lab, 2/2 Ready, plus a ready pilot.
func bookinfoPods(ns string, skip ...string) []runtime.Object {
	var out []runtime.Object
	for _, w := range []struct{ app, version string }{{"details", "v1"}, {"ratings", "v1"}, {"reviews", "v1"},
		{"reviews", "v2"}, {"reviews", "v3"}, {"productpage", "v1"}} {
		name := w.app + "-" + w.version
		if slices.Contains(skip, name) {
			continue
		}
		out = append(out, pod(ns, name+"-abc12", map[string]string{"app": w.app, "version": w.version}, 2, 2))
	}
	return append(out, pod(DefaultControlPlaneNamespace, "meshlab-pilot-xyz", map[string]string{"app": "meshlab-pilot"}, 1, 1))
}

// pod is shaped as the injector makes it on a cluster with native sidecars: the application
// container, the capture init container (finished, which the kubelet reports as Ready) and the
// proxy as a restartable init container. total 1 is a pod without a sidecar.
func pod(ns, name string, labels map[string]string, ready, total int) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	p.Spec.Containers = []corev1.Container{{Name: "app"}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: ready > 0}}
	if total > 1 {
		always := corev1.ContainerRestartPolicyAlways
		p.Spec.InitContainers = []corev1.Container{{Name: "istio-init"}, {Name: "istio-proxy", RestartPolicy: &always}}
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "istio-init", Ready: true},
			{Name: "istio-proxy", Ready: ready > 1}}
	}
	return p
}

func fakeKube(objs ...runtime.Object) *fake.Clientset { return fake.NewClientset(objs...) }

// addonObjects are what an addon's chart leaves in the cluster, as far as verify's diagnosis
// reads it: a NodePort Service (the port of the fake server at serverURL, standing in for the
// node's port), its EndpointSlice with the ready pods' addresses, and the pods, total of them
// of which ready are Ready.
func addonObjects(t *testing.T, service, app, serverURL string, ready, total int) []runtime.Object {
	t.Helper()
	port := nodePort(serverURL)
	if port == 0 {
		t.Fatalf("no port in %s", serverURL)
	}
	const ns = "meshlab-system"
	sel := map[string]string{"app": app}
	out := []runtime.Object{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: service, Labels: sel},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: sel,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, NodePort: int32(port)}}}}}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: service + "-x1",
		Labels: map[string]string{discoveryv1.LabelServiceName: service}}, AddressType: discoveryv1.AddressTypeIPv4}
	for i := range total {
		isReady := i < ready
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", app, i), Labels: sel},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady,
				Status: map[bool]corev1.ConditionStatus{true: corev1.ConditionTrue, false: corev1.ConditionFalse}[isReady]}}}}
		out = append(out, p)
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.244.1.%d", i+2)},
			Conditions: discoveryv1.EndpointConditions{Ready: &isReady}})
	}
	return append(out, slice)
}

// fakePrometheus answers the Prometheus HTTP API the way a real server shapes it.
func fakePrometheus(t *testing.T, ns string) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("Prometheus Server is Ready.\n"))
	})
	mux.HandleFunc("GET /api/v1/targets", func(w http.ResponseWriter, _ *http.Request) {
		var ts []map[string]any
		for _, p := range []string{"details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1"} {
			ts = append(ts, map[string]any{"labels": map[string]string{"namespace": ns, "pod": p + "-abc12"},
				"scrapePool": "kubernetes-pods", "scrapeUrl": "http://10.244.1.5:15020/stats/prometheus", "health": "up", "lastError": ""})
		}
		writeJSON(w, map[string]any{"status": "success", "data": map[string]any{"activeTargets": ts, "droppedTargets": []any{}}})
	})
	mux.HandleFunc("GET /api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		var result []map[string]any
		add := func(m map[string]string) {
			result = append(result, map[string]any{"metric": m, "value": []any{1.7e9, "1"}})
		}
		switch {
		case q == "":
			writeJSON(w, map[string]any{"status": "error", "errorType": "bad_data", "error": "no query"})
			return
		case strings.Contains(q, "istio_tcp_"):
			// Bookinfo speaks only HTTP: no TCP series.
		case strings.Contains(q, "count by (destination_service_name)"):
			for _, s := range bookinfoServices {
				add(map[string]string{"destination_service_name": s})
			}
		case strings.Contains(q, "count by (destination_workload)"):
			add(map[string]string{"destination_workload": "productpage-v1"})
		case strings.Contains(q, "count by (destination_service)"):
			add(map[string]string{"destination_service": "productpage." + ns + ".svc.cluster.local"})
		default:
			add(map[string]string{})
		}
		writeJSON(w, map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// traceSpans is one Bookinfo trace: gateway → productpage → details, reviews → ratings, as
// client/server span pairs the way the sidecars report them.
func traceSpans(ns string) []map[string]any {
	sp := func(id, parent, svc, kind string) map[string]any {
		m := map[string]any{"traceId": "5af7183fb1d4cf5f5af7183fb1d4cf5f", "id": id, "name": svc + "." + ns + ".svc.cluster.local:9080/*",
			"kind": kind, "timestamp": 1556604172355737, "duration": 1431, "localEndpoint": map[string]any{"serviceName": svc + "." + ns}}
		if parent != "" {
			m["parentId"] = parent
		}
		return m
	}
	return []map[string]any{
		sp("0000000000000001", "", "productpage", "SERVER"),
		sp("0000000000000002", "0000000000000001", "productpage", "CLIENT"),
		sp("0000000000000003", "0000000000000002", "details", "SERVER"),
		sp("0000000000000004", "0000000000000001", "productpage", "CLIENT"),
		sp("0000000000000005", "0000000000000004", "reviews", "SERVER"),
		sp("0000000000000006", "0000000000000005", "reviews", "CLIENT"),
		sp("0000000000000007", "0000000000000006", "ratings", "SERVER"),
	}
}

func fakeZipkin(t *testing.T, ns string) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v2/traces", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("serviceName") != "productpage."+ns {
			writeJSON(w, []any{})
			return
		}
		writeJSON(w, []any{traceSpans(ns)})
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// fakeJaeger answers Jaeger's query API (/api/traces): processes by id, CHILD_OF references.
func fakeJaeger(t *testing.T, ns string) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/traces", func(w http.ResponseWriter, r *http.Request) {
		var spans []map[string]any
		procs := map[string]any{}
		for i, z := range traceSpans(ns) {
			pid := "p" + string(rune('1'+i))
			procs[pid] = map[string]any{"serviceName": z["localEndpoint"].(map[string]any)["serviceName"], "tags": []any{}}
			s := map[string]any{"traceID": z["traceId"], "spanID": z["id"], "operationName": z["name"], "processID": pid,
				"references": []any{}, "startTime": z["timestamp"], "duration": z["duration"]}
			if p, ok := z["parentId"]; ok {
				s["references"] = []any{map[string]any{"refType": "CHILD_OF", "traceID": z["traceId"], "spanID": p}}
			}
			spans = append(spans, s)
		}
		writeJSON(w, map[string]any{"data": []any{map[string]any{"traceID": "5af7183fb1d4cf5f5af7183fb1d4cf5f",
			"spans": spans, "processes": procs}}, "total": 0, "limit": 0, "offset": 0, "errors": nil})
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func fakeGrafana(t *testing.T, dashboards []Dashboard) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"commit": "abc", "database": "ok", "version": "12.0.1"})
	})
	mux.HandleFunc("GET /api/search", func(w http.ResponseWriter, _ *http.Request) {
		var hits []map[string]any
		for i, d := range dashboards {
			hits = append(hits, map[string]any{"id": i + 1, "uid": "u" + d.Title, "title": d.Title, "type": "dash-db",
				"url": "/d/x", "tags": []string{}, "isStarred": false})
		}
		writeJSON(w, hits)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// fakeSidecars serves every Bookinfo sidecar's metrics with the destination-reported series of
// its callers under policy (mutual_tls or none), as meshlab's sidecars expose them.
func fakeSidecars(ns, policy string) PodHTTP {
	return func(_ context.Context, namespace, pod string, port int, path string) ([]byte, error) {
		if namespace != ns || port != 15090 || path != "/stats/prometheus" {
			return nil, fmt.Errorf("fake sidecar: no %s:%d%s", pod, port, path)
		}
		app, _, _ := strings.Cut(pod, "-")
		var b strings.Builder
		for _, src := range hops[app] {
			sp, dp := principal(ns, src), principal(ns, app)
			if policy != "mutual_tls" {
				sp, dp = "unknown", "unknown"
			}
			fmt.Fprintf(&b, "istio_requests_total{reporter=\"destination\",source_app=%q,source_principal=%q,destination_app=%q,destination_principal=%q,connection_security_policy=%q,response_code=\"200\"} 3\n",
				src, sp, app, dp, policy)
		}
		return []byte(b.String()), nil
	}
}
