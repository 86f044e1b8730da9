package local

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/localmesh/localmeshtest"

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/localmesh"
	"github.com/meshlab/meshlab/mesh/pilot/caservice"
	"github.com/meshlab/meshlab/mesh/pilot/filereg"
	"github.com/meshlab/meshlab/mesh/pilot/server"
)

// xdsPodNet and xdsSvcNet keep this lab apart from the file-config lab's default networks, so the
// two tests may run at the same time on one machine.
var (
	xdsPodNet = netip.MustParsePrefix("10.214.8.0/24")
	xdsSvcNet = netip.MustParsePrefix("10.214.9.0/24")
)

// xdsLab is Bookinfo whose sidecars take their routing from an in-process control plane
// listening on the lab bridge's address.
type xdsLab struct {
	*bookinfo
	pilotAddr string
	files     []string
	stop      context.CancelFunc
	done      chan struct{}
	srv       *server.Server
	// ca, when set, is the mesh CA the control plane also serves (no Kubernetes: the sidecars'
	// claims are signed); it outlives control-plane restarts, as the root in a Secret does.
	ca *ca.CA
}

func (l *xdsLab) startPilot(t *testing.T) {
	t.Helper()
	var lis net.Listener
	var err error
	deadline := time.Now().Add(90 * time.Second)
	for { // the bridge gets its address while the lab starts; a restarted pilot reuses the port
		if lis, err = net.Listen("tcp", l.pilotAddr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("control plane cannot listen on %s: %v", l.pilotAddr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv, err := server.New(server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var so server.ServeOptions
	if l.ca != nil {
		svc, err := caservice.New(caservice.Options{CA: l.ca})
		if err != nil {
			t.Fatal(err)
		}
		so.Register = append(so.Register, svc.Register)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		go func() { _ = srv.ServeWith(ctx, lis, so) }()
		_ = srv.Run(ctx, &filereg.Registry{Files: l.files, Interval: 100 * time.Millisecond})
	}()
	l.srv, l.stop, l.done = srv, cancel, done
}

func (l *xdsLab) killPilot() {
	l.stop()
	<-l.done
}

// allSynced reports whether every Bookinfo sidecar is connected and SYNCED.
func (l *xdsLab) allSynced() bool {
	st := l.srv.Status()
	if len(st) != len(Topology().Pods) {
		return false
	}
	for _, s := range st {
		if s.State != server.StateSynced {
			return false
		}
	}
	return true
}

// applyRoutes replaces the routes file and requires every sidecar's table to change within 5 s.
func (l *xdsLab) applyRoutes(t *testing.T, files ...string) {
	t.Helper()
	var docs []string
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(samples, f))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(data))
	}
	content := strings.Join(docs, "\n---\n")
	if _, err := config.Parse("routes.yaml", []byte(content)); err != nil {
		t.Fatalf("the samples must parse unchanged: %v", err)
	}
	l.applyContent(t, content)
}

// applyContent replaces the routes file with content and requires every sidecar's table to
// change within 5 s.
func (l *xdsLab) applyContent(t *testing.T, content string) {
	t.Helper()
	before := l.dumps()
	tmp := l.routes + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, l.routes); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pod, old := range before {
		for l.dump(pod) == old {
			if time.Now().After(deadline) {
				t.Fatalf("sidecar of %s did not get the new routes from the control plane within 5 s", pod)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func startXDSLab(t *testing.T) *xdsLab {
	return startXDSLabWith(t, xdsLabOptions{name: "bix", podNet: xdsPodNet, svcNet: xdsSvcNet})
}

// xdsLabOptions tell labs that may run side by side apart; mtls gives the control plane a CA
// and the sidecars certificates of certTTL.
type xdsLabOptions struct {
	name           string
	podNet, svcNet netip.Prefix
	mtls           bool
	certTTL        time.Duration
}

func startXDSLabWith(t *testing.T, o xdsLabOptions) *xdsLab {
	t.Helper()
	localmeshtest.Require(t)
	dir := localmeshtest.Dir(t, "meshlab-bookinfo-"+o.name+"-")
	meshDir := filepath.Join(dir, "mesh")
	l := &xdsLab{
		bookinfo:  &bookinfo{t: t, routes: filepath.Join(dir, "routes.yaml")},
		pilotAddr: netip.AddrPortFrom(o.podNet.Addr().Next(), 15010).String(), // the bridge
	}
	if o.mtls {
		root, err := ca.New(ca.Options{})
		if err != nil {
			t.Fatal(err)
		}
		l.ca = root
	}
	l.files = []string{filepath.Join(meshDir, "registry.yaml"), l.routes}
	l.writeRoutes("destination-rule-all.yaml")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type started struct {
		m   *localmesh.Mesh
		err error
	}
	ch := make(chan started, 1)
	go func() {
		m, err := Start(ctx, localmesh.Options{Name: o.name, Binary: meshlabBinary, Dir: meshDir,
			PodNet: o.podNet, SvcNet: o.svcNet, RouteFiles: []string{l.routes},
			ProxyArgs: []string{"--xds", l.pilotAddr}, MTLS: o.mtls, CertTTL: o.certTTL})
		ch <- started{m, err}
	}()
	l.startPilot(t)
	t.Cleanup(func() { l.killPilot() })
	s := <-ch
	if s.err != nil {
		t.Fatalf("start Bookinfo with sidecars on xDS: %v", s.err)
	}
	t.Cleanup(func() { s.m.Stop(context.Background()) })
	l.mesh, l.url = s.m, ProductpageURL(s.m)
	return l
}

// TestBookinfoRoutingFromControlPlane: the outcomes of TestBookinfoRoutingInNamespaces with the
// sidecars configured over xDS; each file change reaches every sidecar within 5 s; traffic keeps
// flowing while the control plane is down, and every proxy is SYNCED again after its restart.
func TestBookinfoRoutingFromControlPlane(t *testing.T) {
	l := startXDSLab(t)
	waitUntil(t, 10*time.Second, "every sidecar SYNCED", l.allSynced)

	t.Run("no routing: every reviews version answers", func(t *testing.T) {
		counts := l.count(anonymous(), mixPages) // a version missed by chance: 1.6e-5 (TestStatedChances)
		if counts["v1"] == 0 || counts["v2"] == 0 || counts["v3"] == 0 {
			t.Fatalf("30 requests without routing saw %v; want all three versions", counts)
		}
	})
	t.Run("all-v1", func(t *testing.T) {
		l.applyRoutes(t, "destination-rule-all.yaml", "virtual-service-all-v1.yaml")
		if counts := l.count(anonymous(), 50); counts["v1"] != 50 {
			t.Fatalf("50 requests with virtual-service-all-v1: %v; want v1 only", counts)
		}
	})
	t.Run("reviews-50-v3", func(t *testing.T) {
		l.applyRoutes(t, "destination-rule-all.yaml", "virtual-service-all-v1.yaml", "virtual-service-reviews-50-v3.yaml")
		// A healthy split misses the bounds with chance 1.4e-5 (TestStatedChances).
		counts := l.count(anonymous(), splitPages)
		if counts["v3"] < splitLow || counts["v3"] > splitHigh || counts["v1"]+counts["v3"] != splitPages {
			t.Fatalf("%d requests with reviews-50-v3: %v; want v3 in %d..%d and the rest v1", splitPages, counts, splitLow, splitHigh)
		}
	})
	t.Run("reviews-test-v2: only jason sees black stars", func(t *testing.T) {
		l.applyRoutes(t, "destination-rule-all.yaml", "virtual-service-all-v1.yaml", "virtual-service-reviews-test-v2.yaml")
		if counts := l.count(anonymous(), 20); counts["v1"] != 20 {
			t.Fatalf("anonymous: %v; want v1 only", counts)
		}
		if counts := l.count(l.loggedIn("jason"), 20); counts["v2"] != 20 {
			t.Fatalf("jason: %v; want v2 only", counts)
		}
	})
	t.Run("ratings-test-abort: ratings unavailable for jason", func(t *testing.T) {
		l.applyRoutes(t, "destination-rule-all.yaml", "virtual-service-all-v1.yaml",
			"virtual-service-reviews-test-v2.yaml", "virtual-service-ratings-test-abort.yaml")
		if p := l.get(l.loggedIn("jason")); !p.ratingsUnavailable() {
			t.Fatalf("jason's page does not say ratings are unavailable (version %s)", p.reviewsVersion())
		}
	})
	t.Run("allow-nothing from the control plane: 403, a bad policy rejected and reported", func(t *testing.T) {
		l.applyRoutes(t, "destination-rule-all.yaml", "authz-http/allow-nothing.yaml")
		code, body := pageStatus(t, l.url)
		if code != 403 || body != "RBAC: access denied" {
			t.Fatalf("productpage with allow-nothing: %d %q, want 403 RBAC: access denied", code, body)
		}
		// A policy that does not validate: the control plane keeps the last good state (the
		// sidecars still deny) and `mesh status` reports the rejection.
		bad := "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: bad, namespace: default}\n" +
			"spec:\n  rules: [{from: [{source: {principals: [bookinfo-productpage]}}]}]\n"
		if err := os.WriteFile(l.routes, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 5*time.Second, "the rejection in mesh status", func() bool {
			st := l.srv.Status()
			return len(st) > 0 && len(st[0].Rejected) == 1 && strings.Contains(st[0].Rejected[0], "principals[0]")
		})
		if code, _ := pageStatus(t, l.url); code != 403 {
			t.Fatalf("after the rejected change: %d, want 403 (the last good policies stay)", code)
		}
		l.applyRoutes(t, "destination-rule-all.yaml")
		if code, _ := pageStatus(t, l.url); code != 200 {
			t.Fatalf("policy removed: %d, want 200", code)
		}
	})
	t.Run("control plane killed: traffic flows on the last config", func(t *testing.T) {
		l.applyRoutes(t, "destination-rule-all.yaml", "virtual-service-all-v1.yaml")
		waitUntil(t, 10*time.Second, "every sidecar SYNCED", l.allSynced)
		l.killPilot()
		if counts := l.count(anonymous(), 30); counts["v1"] != 30 {
			t.Fatalf("30 requests with the control plane down: %v; want v1 only (the last config)", counts)
		}
	})
	t.Run("control plane restarted: every proxy SYNCED again", func(t *testing.T) {
		l.startPilot(t)
		waitUntil(t, 15*time.Second, "every sidecar SYNCED with the restarted control plane", l.allSynced)
		if counts := l.count(anonymous(), 20); counts["v1"] != 20 {
			t.Fatalf("after the restart: %v; want v1 only", counts)
		}
	})
	t.Run("route removed: the mix of versions comes back", func(t *testing.T) {
		l.applyRoutes(t, "destination-rule-all.yaml")
		counts := l.count(anonymous(), mixPages) // a version missed by chance: 1.6e-5 (TestStatedChances)
		if counts["v1"] == 0 || counts["v2"] == 0 || counts["v3"] == 0 {
			t.Fatalf("30 requests after removing the routes saw %v; want all three versions", counts)
		}
	})
}

func pageStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := anonymous().Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
