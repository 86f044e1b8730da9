package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshlab/meshlab/bookinfo/deploy"
	"github.com/meshlab/meshlab/bookinfo/serve"
)

func startBookinfoService(t *testing.T, service, version string, env map[string]string) (host string, port int) {
	t.Helper()
	h, err := serve.Handler(serve.Config{Service: service, Version: version, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	hh, pp, _ := net.SplitHostPort(u.Host)
	port, _ = strconv.Atoi(pp)
	return hh, port
}

// registry puts productpage (the only service the gateway routes to) at a loopback endpoint.
func registry(port int) string {
	return fmt.Sprintf(`apiVersion: meshlab.io/v1alpha1
kind: Registry
spec:
  services:
  - name: productpage
    ports: [{name: http, port: 9080, protocol: HTTP}]
    endpoints: [{address: 127.0.0.1, port: %d, labels: {app: productpage, version: v1}, workload: productpage-v1}]
`, port)
}

// runGateway runs a gateway on loopback (port 8080 on a free port, admin listeners too) until
// the test ends, which must find it ended cleanly; ctx is the run's.
func runGateway(t *testing.T, o Options) (*Gateway, context.Context) {
	t.Helper()
	o.Listen = map[uint16]string{8080: "127.0.0.1:0"}
	o.HealthAddr, o.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0"
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway run: %v", err)
		}
	})
	return g, ctx
}

// TestGatewayServesProductpage puts the gateway in front of the real Go productpage on
// loopback, configured by Istio's bookinfo-gateway.yaml unchanged.
func TestGatewayServesProductpage(t *testing.T) {
	dh, dp := startBookinfoService(t, "details", "v1", nil)
	rh, rp := startBookinfoService(t, "ratings", "v1", nil)
	vh, vp := startBookinfoService(t, "reviews", "v2", map[string]string{"RATINGS_HOSTNAME": rh, "RATINGS_SERVICE_PORT": strconv.Itoa(rp)})
	_, pp := startBookinfoService(t, "productpage", "v1", map[string]string{
		"DETAILS_HOSTNAME": dh, "DETAILS_SERVICE_PORT": strconv.Itoa(dp),
		"REVIEWS_HOSTNAME": vh, "REVIEWS_SERVICE_PORT": strconv.Itoa(vp),
		"RATINGS_HOSTNAME": rh, "RATINGS_SERVICE_PORT": strconv.Itoa(rp)})

	dir := t.TempDir()
	gwFile := filepath.Join(dir, "bookinfo-gateway.yaml")
	sample, err := deploy.Sample(deploy.GatewayFile)
	if err != nil {
		t.Fatal(err)
	}
	regFile := filepath.Join(dir, "registry.yaml")
	for f, data := range map[string][]byte{gwFile: sample, regFile: []byte(registry(pp))} {
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g, ctx := runGateway(t, Options{ConfigFiles: []string{gwFile, regFile}, WorkDir: dir})
	addr, err := g.Addr(ctx, 8080)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("/productpage")
	if code != 200 || !strings.Contains(body, "<title>Simple Bookstore App</title>") || !strings.Contains(body, `class="flex gap-x-1 text-black-500"`) {
		t.Fatalf("GET /productpage through the gateway: %d\n%.300s", code, body)
	}
	if code, body := get("/api/v1/products"); code != 200 || !strings.Contains(body, "The Comedy of Errors") {
		t.Fatalf("GET /api/v1/products: %d %.200s", code, body)
	}
	if code, _ := get("/static/tailwind/tailwind.css"); code != 200 {
		t.Fatalf("GET /static/...: %d", code)
	}
	// Not bound by the VirtualService: Envoy answers 404 (no route).
	for _, p := range []string{"/", "/health", "/metrics"} {
		if code, _ := get(p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404 (not exposed by bookinfo-gateway.yaml)", p, code)
		}
	}
}

// TestGatewayFollowsGateways starts the gateway before any Gateway selects it (as `meshlab up`
// does: Bookinfo brings its Gateway later), then adds bookinfo-gateway.yaml and removes it again:
// the port is bound when the Gateway arrives and closed when it goes.
func TestGatewayFollowsGateways(t *testing.T) {
	_, pp := startBookinfoService(t, "productpage", "v1", nil)
	dir := t.TempDir()
	gwFile, regFile := filepath.Join(dir, "gateways.yaml"), filepath.Join(dir, "registry.yaml")
	write := func(f string, data []byte) {
		t.Helper()
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(gwFile, nil)
	write(regFile, []byte(registry(pp)))
	g, ctx := runGateway(t, Options{ConfigFiles: []string{gwFile, regFile}, WorkDir: dir, ReloadInterval: 20 * time.Millisecond})
	early, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	defer stop()
	if a, err := g.Addr(early, 8080); err == nil {
		t.Fatalf("port 8080 bound at %v before any Gateway declared it", a)
	}
	// A gateway that exited meanwhile is reported by runGateway's clean-up with its error.

	sample, err := deploy.Sample(deploy.GatewayFile)
	if err != nil {
		t.Fatal(err)
	}
	write(gwFile, sample)
	addr, err := g.Addr(ctx, 8080)
	if err != nil {
		t.Fatalf("the Gateway arrived but port 8080 was not bound: %v", err)
	}
	resp, err := http.Get("http://" + addr.String() + "/productpage")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /productpage after the Gateway arrived: %d", resp.StatusCode)
	}

	write(gwFile, []byte(strings.Replace(string(sample), "istio: ingressgateway", "istio: other", 1)))
	for {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err != nil {
			break // closed: no Gateway declares the port any more
		}
		c.Close()
		select {
		case <-ctx.Done():
			t.Fatal("port 8080 still open after its Gateway stopped selecting the gateway")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestTranslateBookinfoGateway(t *testing.T) {
	sample, err := deploy.Sample(deploy.GatewayFile)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Translate(map[string][]byte{"gw.yaml": sample, "reg.yaml": []byte(registry(9080))}, DefaultLabels(), Identity{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Servers) != 1 || tr.Servers[0].Port != 8080 || tr.Servers[0].Routes != 1 ||
		tr.Servers[0].Gateways[0] != "default/bookinfo-gateway" {
		t.Fatalf("servers: %+v", tr.Servers)
	}
	if !strings.Contains(string(tr.Config), "host: productpage.default.svc.cluster.local") {
		t.Fatalf("destination not qualified:\n%s", tr.Config)
	}
}

func TestTranslateRejects(t *testing.T) {
	sample, _ := deploy.Sample(deploy.GatewayFile)
	if tr, err := Translate(map[string][]byte{"gw.yaml": sample}, map[string]string{"istio": "egressgateway"}, Identity{}); err != nil ||
		len(tr.Servers) != 0 {
		t.Fatalf("a Gateway for other labels: %v, servers %+v; want no server and no error", err, tr)
	}
	tls := strings.Replace(string(sample), "protocol: HTTP", "protocol: HTTPS", 1)
	if _, err := Translate(map[string][]byte{"gw.yaml": []byte(tls)}, DefaultLabels(), Identity{}); err == nil ||
		!strings.Contains(err.Error(), `protocol "HTTPS" is not supported`) {
		t.Fatalf("HTTPS: %v", err)
	}
}

func TestManifestShape(t *testing.T) {
	objs := Manifest(ManifestOptions{Image: "meshlab.local/meshlab:v1", PullPolicy: "Never"})
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	if strings.Join(kinds, ",") != "ServiceAccount,ClusterRole,ClusterRoleBinding,Deployment,Service" {
		t.Fatalf("kinds %v", kinds)
	}
	d, svc := objs[3], objs[4]
	labels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
	if labels["istio"] != "ingressgateway" || d.GetName() != DeploymentName || d.GetNamespace() != "meshlab-system" {
		t.Fatalf("deployment %s/%s labels %v: bookinfo-gateway.yaml selects istio=ingressgateway", d.GetNamespace(), d.GetName(), labels)
	}
	// Its namespace is its identity in telemetry: the gateway learns it as a sidecar does.
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	env, _, _ := unstructured.NestedSlice(cs[0].(map[string]any), "env")
	if fmt.Sprint(env) != "[map[name:POD_NAMESPACE valueFrom:map[fieldRef:map[fieldPath:metadata.namespace]]]]" {
		t.Errorf("gateway env %v, want POD_NAMESPACE from the downward API", env)
	}
	// No privilege: every capability dropped, a read-only root, /tmp the only writable place.
	sc := cs[0].(map[string]any)["securityContext"].(map[string]any)
	drop, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "drop")
	if sc["readOnlyRootFilesystem"] != true || len(drop) != 1 || drop[0] != "ALL" || sc["allowPrivilegeEscalation"] != false {
		t.Errorf("gateway securityContext %v", sc)
	}
	if mounts := cs[0].(map[string]any)["volumeMounts"]; !strings.Contains(fmt.Sprint(mounts), "mountPath:/tmp") {
		t.Errorf("no writable /tmp for the translated config: %v", mounts)
	}
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	p := ports[0].(map[string]any)
	if p["nodePort"] != int64(30080) || p["targetPort"] != int64(8080) {
		t.Fatalf("service ports %v", ports)
	}
}
