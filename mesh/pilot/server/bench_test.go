package server

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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
	securityv1alpha1 "istio.io/api/security/v1alpha1"

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/identity"
	"github.com/meshlab/meshlab/mesh/pilot/caservice"
	"github.com/meshlab/meshlab/mesh/pilot/filereg"
	"github.com/meshlab/meshlab/mesh/pilot/model"
	"github.com/meshlab/meshlab/mesh/spiffe"
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
	// Wildcard subscriptions, as the sidecar's client makes them: clusters, listeners and the
	// security policies (ECDS), which a proxy must ACK too to count as SYNCED.
	for _, t := range []string{resource.ClusterType, resource.ListenerType, resource.ExtensionConfigType} {
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
		done := c.want != "" && len(c.versions) == 5
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

// benchEnv is a control plane on loopback with benchProxies raw ADS clients connected and
// SYNCED, ready to push one of two states alternately.
type benchEnv struct {
	srv      *Server
	addr     string
	conns    []*grpc.ClientConn
	clients  []*rawClient
	states   [2]model.State
	reg      chan model.State
	apps     []string
	perProxy float64 // heap KiB per connected proxy
}

func startBench(b *testing.B, register ...func(*grpc.Server)) *benchEnv {
	b.Helper()
	const cfg = "../../config/testdata/"
	base := []string{cfg + "bookinfo-registry.yaml", cfg + "istio-samples/destination-rule-all.yaml"}
	e := &benchEnv{apps: []string{"productpage", "reviews", "ratings", "details"}, reg: make(chan model.State, 1)}
	for i, routes := range []string{"virtual-service-all-v1.yaml", "virtual-service-reviews-50-v3.yaml"} {
		st, err := filereg.Load(append(base, cfg+"istio-samples/"+routes)...)
		if err != nil {
			b.Fatal(err)
		}
		e.states[i] = st
	}
	var logger *slog.Logger
	if os.Getenv("BENCH_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := New(Options{Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	e.srv = srv
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	e.addr = l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go func() { _ = srv.ServeWith(ctx, l, ServeOptions{Register: register}) }()
	go func() { _ = srv.Run(ctx, benchRegistry(e.reg)) }()
	e.reg <- e.states[0]

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	const conns = 8 // streams share a few HTTP/2 connections, as many sidecars behind few nodes would not; it keeps the client side light
	for range conns {
		c, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		e.conns = append(e.conns, c)
	}
	e.clients = make([]*rawClient, benchProxies)
	for i := range e.clients {
		e.clients[i] = &rawClient{versions: map[string]string{}, reached: make(chan time.Time, 1)}
		app := e.apps[i%4]
		p := config.Proxy{ID: fmt.Sprintf("bench-%d.default", i), Namespace: "default", Workload: app + "-v1",
			Labels: map[string]string{"app": app, "version": "v1"}}
		go func() { _ = e.clients[i].run(ctx, e.conns[i%conns], p) }()
	}
	waitSynced(b, srv, benchProxies)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	e.perProxy = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(benchProxies) / 1024
	return e
}

// push sends state i and returns every proxy's convergence time, measured from the registry
// update (the 100 ms debounce included).
func (e *benchEnv) push(b *testing.B, i int) []time.Duration {
	next := e.states[i%2]
	// The versions each proxy must reach: render once for each of the four identities.
	want := map[string]string{}
	for _, a := range e.apps {
		snap, _, err := render(&next, config.Proxy{Namespace: "default", Labels: map[string]string{"app": a, "version": "v1"}})
		if err != nil {
			b.Fatal(err)
		}
		want[a] = snap.GetVersion(resource.ClusterType)
	}
	for j, c := range e.clients {
		c.expect(want[e.apps[j%4]])
	}
	start := time.Now()
	e.reg <- next
	var lat []time.Duration
	for _, c := range e.clients {
		select {
		case at := <-c.reached:
			lat = append(lat, at.Sub(start))
		case <-time.After(30 * time.Second):
			c.mu.Lock()
			b.Fatalf("a proxy did not converge within 30 s: has %v, wants %q", c.versions, c.want)
		}
	}
	return lat
}

func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

func BenchmarkPushToThousandProxies(b *testing.B) {
	e := startBench(b)
	var lat []time.Duration
	cpuBefore := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lat = append(lat, e.push(b, i+1)...)
	}
	b.StopTimer()
	cpuPerPush := (cpuTime() - cpuBefore) / time.Duration(b.N)
	p50, p99 := percentiles(lat)
	b.ReportMetric(p50.Seconds()*1000, "p50-ms")
	b.ReportMetric(p99.Seconds()*1000, "p99-ms")
	b.ReportMetric(e.perProxy, "KiB/proxy")
	b.ReportMetric(cpuPerPush.Seconds(), "cpu-s/push")
	// Convergence is measured from the registry update, so it includes the 100 ms debounce; CPU
	// covers the pilot and the in-process clients together, and so does the heap figure.
	fmt.Fprintf(os.Stdout, "\n| proxies | pushes | p50 convergence | p99 convergence | heap per proxy | CPU per push |\n|---|---|---|---|---|---|\n| %d | %d | %v | %v | %.1f KiB | %v |\n",
		benchProxies, b.N, p50.Round(time.Millisecond), p99.Round(time.Millisecond), e.perProxy, cpuPerPush.Round(time.Millisecond))
}

// BenchmarkPushDuringRotation is the certificate renewal of every connected proxy at once (a
// control plane restarted after a whole lifetime, or all pods started together): while the CA
// signs benchProxies CSRs on the same server, 32 at a time, a config push goes out to every
// proxy. It reports the push's convergence and the CA's signing rate.
func BenchmarkPushDuringRotation(b *testing.B) {
	root, err := ca.New(ca.Options{})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := caservice.New(caservice.Options{CA: root}) // no Kubernetes: the CSR's claim
	if err != nil {
		b.Fatal(err)
	}
	e := startBench(b, svc.Register)
	csrs := make([]string, 64) // one per ServiceAccount, cycled: verifying a CSR costs the same
	for i := range csrs {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		der, err := identity.CSR(key, spiffe.ID{TrustDomain: "cluster.local", Namespace: "default", ServiceAccount: fmt.Sprintf("sa-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		csrs[i] = string(der)
	}
	var lat []time.Duration
	var signed int
	var signing time.Duration
	cpuBefore := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			sem := make(chan struct{}, 32)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var first error
			for j := range benchProxies {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					client := securityv1alpha1.NewIstioCertificateServiceClient(e.conns[j%len(e.conns)])
					if _, err := client.CreateCertificate(context.Background(), &securityv1alpha1.IstioCertificateRequest{Csr: csrs[j%len(csrs)]}); err != nil {
						mu.Lock()
						first = cmp.Or(first, err)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			done <- first
		}()
		lat = append(lat, e.push(b, i+1)...)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		signing += time.Since(start)
		signed += benchProxies
	}
	b.StopTimer()
	cpu := cpuTime() - cpuBefore
	p50, p99 := percentiles(lat)
	rate := float64(signed) / signing.Seconds()
	b.ReportMetric(p99.Seconds()*1000, "push-p99-ms")
	b.ReportMetric(rate, "certs/s")
	fmt.Fprintf(os.Stdout, "\n| proxies | rotations | certificates signed | signing rate | push p50 during rotation | push p99 during rotation | CPU per rotation |\n|---|---|---|---|---|---|---|\n| %d | %d | %d | %.0f/s | %v | %v | %v |\n",
		benchProxies, b.N, signed, rate, p50.Round(time.Millisecond), p99.Round(time.Millisecond), (cpu / time.Duration(b.N)).Round(time.Millisecond))
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
