package xds

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/filereg"
	"github.com/meshlab/meshlab/mesh/pilot/model"
	"github.com/meshlab/meshlab/mesh/pilot/server"
)

const samples = "../config/testdata/"

// chanRegistry pushes whatever the test sends it.
type chanRegistry chan model.State

func (c chanRegistry) Run(ctx context.Context, push func(model.State)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case st := <-c:
			push(st)
		}
	}
}

func loadState(t *testing.T, files ...string) model.State {
	t.Helper()
	st, err := filereg.Load(files...)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func bookinfo(routes string) []string {
	files := []string{samples + "bookinfo-registry.yaml", samples + "istio-samples/destination-rule-all.yaml"}
	if routes != "" {
		files = append(files, samples+"istio-samples/"+routes+".yaml")
	}
	return files
}

// pilot is an in-process control plane on a loopback port.
type pilot struct {
	srv     *server.Server
	reg     chanRegistry
	addr    string
	metrics *prometheus.Registry
	stop    context.CancelFunc
	done    chan struct{}
}

func startPilot(t *testing.T, addr string) *pilot {
	t.Helper()
	pm := prometheus.NewRegistry()
	srv, err := server.New(server.Options{Registerer: pm})
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener
	deadline := time.Now().Add(10 * time.Second)
	for { // a restarted pilot takes the same port, which the old one may hold for a moment
		l, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pilot{srv: srv, reg: make(chanRegistry, 1), addr: l.Addr().String(), metrics: pm, stop: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.Serve(ctx, l) }()
	go func() { defer wg.Done(); _ = srv.Run(ctx, p.reg) }()
	go func() { wg.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

func (p *pilot) kill() {
	p.stop()
	<-p.done
}

// sidecar is an xDS client applying to a compiled table, as the proxy does.
type sidecar struct {
	table   atomic.Pointer[config.Table]
	applies atomic.Int32
	reject  atomic.Bool
}

func startSidecar(t *testing.T, addr string, p config.Proxy) *sidecar {
	t.Helper()
	s := &sidecar{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = Run(ctx, Options{Addr: addr, Proxy: p, Apply: func(snap *config.Snapshot) error {
			if s.reject.Load() {
				return errors.New("rejected by the test")
			}
			tab, err := config.Compile(snap)
			if err != nil {
				return err
			}
			s.table.Store(tab)
			s.applies.Add(1)
			return nil
		}})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func productpage() config.Proxy {
	return config.Proxy{ID: "productpage-v1-0.default", Namespace: "default", Workload: "productpage-v1",
		Labels: map[string]string{"app": "productpage", "version": "v1"}}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stateOf(p *pilot, id string) server.ProxyStatus {
	for _, s := range p.srv.Status() {
		if s.ID == id {
			return s
		}
	}
	return server.ProxyStatus{}
}

// reviewsSubsets lists the subsets productpage's sidecar sends reviews traffic to.
func reviewsSubsets(tab *config.Table) string {
	if tab == nil {
		return ""
	}
	h := tab.ByAuthority("reviews", 9080)
	if h == nil {
		return ""
	}
	var out []string
	for _, rt := range h.Routes {
		for _, d := range rt.Destinations {
			out = append(out, d.Cluster.Subset)
		}
	}
	return strings.Join(out, ",")
}

func TestClientSyncsAndFollowsChanges(t *testing.T) {
	p := startPilot(t, "127.0.0.1:0")
	p.reg <- loadState(t, bookinfo("virtual-service-all-v1")...)
	sc := startSidecar(t, p.addr, productpage())
	id := productpage().ID
	waitFor(t, "SYNCED", func() bool { return stateOf(p, id).State == server.StateSynced })
	if got := reviewsSubsets(sc.table.Load()); got != "v1" {
		t.Fatalf("reviews routes to %q, want v1", got)
	}
	v1 := stateOf(p, id).Version

	p.reg <- loadState(t, bookinfo("virtual-service-reviews-50-v3")...)
	waitFor(t, "reviews 50/50 v1/v3", func() bool { return reviewsSubsets(sc.table.Load()) == "v1,v3" })
	waitFor(t, "SYNCED at the new version", func() bool {
		st := stateOf(p, id)
		return st.State == server.StateSynced && st.Version != v1
	})
	if n := testutil.ToFloat64(p.srv.MetricConnected()); n != 1 {
		t.Errorf("connected proxies = %v, want 1", n)
	}
	if n := testutil.CollectAndCount(p.metrics, "meshlab_pilot_proxy_convergence_time_seconds"); n != 1 {
		t.Errorf("convergence histogram series = %d, want 1", n)
	}
}

func TestNackIsTrackedAndNotResent(t *testing.T) {
	p := startPilot(t, "127.0.0.1:0")
	p.reg <- loadState(t, bookinfo("virtual-service-all-v1")...)
	sc := startSidecar(t, p.addr, productpage())
	sc.reject.Store(true)
	id := productpage().ID
	waitFor(t, "NACKED", func() bool { return stateOf(p, id).State == server.StateNacked })
	if e := stateOf(p, id).Error; !strings.Contains(e, "rejected by the test") {
		t.Errorf("status error = %q, want the NACK's detail", e)
	}
	// NACKED shows at the first type's NACK; the other types' follow.
	waitFor(t, "one NACK per resource type (5)", func() bool { return testutil.ToFloat64(p.srv.MetricNacks()) >= 5 })
	nacks := testutil.ToFloat64(p.srv.MetricNacks())
	if nacks != 5 {
		t.Errorf("nacks = %v, want 5 (one per resource type)", nacks)
	}
	// The proxy accepts the next version; had the pilot resent the rejected one in a loop, the
	// NACK count would have kept growing meanwhile.
	sc.reject.Store(false)
	p.reg <- loadState(t, bookinfo("virtual-service-reviews-v3")...)
	waitFor(t, "SYNCED after the fix", func() bool { return stateOf(p, id).State == server.StateSynced })
	if got := testutil.ToFloat64(p.srv.MetricNacks()); got != nacks {
		t.Errorf("nacks grew from %v to %v: the rejected config was resent", nacks, got)
	}
	if got := reviewsSubsets(sc.table.Load()); got != "v3" {
		t.Errorf("reviews routes to %q, want v3", got)
	}
}

func TestClientKeepsConfigWhilePilotIsAwayAndResyncs(t *testing.T) {
	p := startPilot(t, "127.0.0.1:0")
	p.reg <- loadState(t, bookinfo("virtual-service-reviews-test-v2")...)
	sc := startSidecar(t, p.addr, productpage())
	id := productpage().ID
	waitFor(t, "SYNCED", func() bool { return stateOf(p, id).State == server.StateSynced })
	before := sc.table.Load()
	applies := sc.applies.Load()

	p.kill()
	if sc.table.Load() != before || sc.applies.Load() != applies {
		t.Fatal("the config changed when the control plane went away")
	}

	p2 := startPilot(t, p.addr)
	p2.reg <- loadState(t, bookinfo("virtual-service-reviews-test-v2")...)
	waitFor(t, "SYNCED with the restarted pilot", func() bool { return stateOf(p2, id).State == server.StateSynced })
	if got := reviewsSubsets(sc.table.Load()); got != "v2,v1" {
		t.Errorf("reviews routes to %q, want v2,v1", got)
	}
}
