package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/filereg"
	"github.com/meshlab/meshlab/mesh/pilot/model"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

var benchProxies = envInt("BENCH_PROXIES", 1000)

// rawClient is the lightest possible ADS client: it subscribes to the four types, follows the
// names, ACKs every response at once and reports when it holds version want of all four.
type rawClient struct {
	mu       sync.Mutex
	versions map[string]string
	want     string
	reached  chan time.Time
}

func (c *rawClient) run(ctx context.Context, conn *grpc.ClientConn, p config.Proxy) error {
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	node := xdsnames.NodeFor(p)
	for _, t := range []string{resource.ClusterType, resource.ListenerType} {
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: t}); err != nil {
			return err
		}
		node = nil // as Envoy, send the node on the first request only
	}
	names := map[string][]string{}
	acked := map[string][2]string{} // type -> version, nonce of the latest response
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		typ := resp.GetTypeUrl()
		follow := map[string]string{resource.ClusterType: resource.EndpointType, resource.ListenerType: resource.RouteType}[typ]
		if follow != "" {
			// Clusters name the endpoints to subscribe to, listeners the routes; in ADS mode the
			// cache answers only requests whose names it has, so follow every change.
			var want []string
			for _, a := range resp.GetResources() {
				want = append(want, nameOf(a.GetValue(), follow))
			}
			slices.Sort(want)
			if !slices.Equal(want, names[follow]) {
				names[follow] = want
				last := acked[follow]
				if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: follow, ResourceNames: want,
					VersionInfo: last[0], ResponseNonce: last[1]}); err != nil {
					return err
				}
			}
		}
		acked[typ] = [2]string{resp.GetVersionInfo(), resp.GetNonce()}
		if err := stream.Send(&discoveryv3.DiscoveryRequest{
			Node: node, TypeUrl: typ, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(), ResourceNames: names[typ],
		}); err != nil {
			return err
		}
		c.mu.Lock()
		c.versions[typ] = resp.GetVersionInfo()
		done := c.want != "" && len(c.versions) == 4
		for _, v := range c.versions {
			done = done && v == c.want
		}
		if done {
			c.want = ""
			c.reached <- time.Now()
		}
		c.mu.Unlock()
	}
}

func (c *rawClient) expect(version string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = version
}

func BenchmarkPushToThousandProxies(b *testing.B) {
	const cfg = "../../config/testdata/"
	base := []string{cfg + "bookinfo-registry.yaml", cfg + "istio-samples/destination-rule-all.yaml"}
	states := [2]model.State{}
	for i, routes := range []string{"virtual-service-all-v1.yaml", "virtual-service-reviews-50-v3.yaml"} {
		st, err := filereg.Load(append(base, cfg+"istio-samples/"+routes)...)
		if err != nil {
			b.Fatal(err)
		}
		states[i] = st
	}
	var logger *slog.Logger
	if os.Getenv("BENCH_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := New(Options{Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := make(chan model.State, 1)
	go func() { _ = srv.Serve(ctx, l) }()
	go func() { _ = srv.Run(ctx, benchRegistry(reg)) }()
	reg <- states[0]

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	const conns = 8 // streams share a few HTTP/2 connections, as many sidecars behind few nodes would not; it keeps the client side light
	var cc []*grpc.ClientConn
	for range conns {
		c, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cc = append(cc, c)
	}
	apps := []string{"productpage", "reviews", "ratings", "details"}
	clients := make([]*rawClient, benchProxies)
	for i := range clients {
		clients[i] = &rawClient{versions: map[string]string{}, reached: make(chan time.Time, 1)}
		p := config.Proxy{ID: fmt.Sprintf("bench-%d.default", i), Namespace: "default", Workload: apps[i%4] + "-v1",
			Labels: map[string]string{"app": apps[i%4], "version": "v1"}}
		go func() { _ = clients[i].run(ctx, cc[i%conns], p) }()
	}
	waitSynced(b, srv, benchProxies)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perProxy := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(benchProxies) / 1024

	var lat []time.Duration
	cpuBefore := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next := states[(i+1)%2]
		// The versions each proxy must reach: render once for each of the four identities.
		want := map[string]string{}
		for _, a := range apps {
			snap, _, err := render(&next, config.Proxy{Namespace: "default", Labels: map[string]string{"app": a, "version": "v1"}})
			if err != nil {
				b.Fatal(err)
			}
			want[a] = snap.GetVersion(resource.ClusterType)
		}
		for j, c := range clients {
			c.expect(want[apps[j%4]])
		}
		start := time.Now()
		reg <- next
		for _, c := range clients {
			select {
			case at := <-c.reached:
				lat = append(lat, at.Sub(start))
			case <-time.After(30 * time.Second):
				c.mu.Lock()
				b.Fatalf("a proxy did not converge within 30 s: has %v, wants %q", c.versions, c.want)
			}
		}
	}
	b.StopTimer()
	cpuPerPush := (cpuTime() - cpuBefore) / time.Duration(b.N)
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	b.ReportMetric(p50.Seconds()*1000, "p50-ms")
	b.ReportMetric(p99.Seconds()*1000, "p99-ms")
	b.ReportMetric(perProxy, "KiB/proxy")
	b.ReportMetric(cpuPerPush.Seconds(), "cpu-s/push")
	// Convergence is measured from the registry update, so it includes the 100 ms debounce; CPU
	// covers the pilot and the in-process clients together, and so does the heap figure.
	fmt.Fprintf(os.Stdout, "\n| proxies | pushes | p50 convergence | p99 convergence | heap per proxy | CPU per push |\n|---|---|---|---|---|---|\n| %d | %d | %v | %v | %.1f KiB | %v |\n",
		benchProxies, b.N, p50.Round(time.Millisecond), p99.Round(time.Millisecond), perProxy, cpuPerPush.Round(time.Millisecond))
}

type benchRegistry chan model.State

func (r benchRegistry) Run(ctx context.Context, push func(model.State)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case st := <-r:
			push(st)
		}
	}
}

func waitSynced(b *testing.B, srv *Server, n int) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		synced := 0
		for _, st := range srv.Status() {
			if st.State == StateSynced {
				synced++
			}
		}
		if synced == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d proxies SYNCED after 60 s", synced, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err != nil || n <= 0 {
		return def
	}
	return n
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
