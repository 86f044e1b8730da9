package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlab/meshlab/bookinfo/deploy"
	"github.com/meshlab/meshlab/bookinfo/verify"
	"github.com/meshlab/meshlab/mesh/proxy"
)

// mtlsPodNet and mtlsSvcNet keep this lab apart from the other Bookinfo labs' networks.
var (
	mtlsPodNet = netip.MustParsePrefix("10.214.12.0/24")
	mtlsSvcNet = netip.MustParsePrefix("10.214.13.0/24")
)

const (
	productpagePrincipal = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
	reviewsPrincipal     = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
)

func peerAuth(mode string) string {
	return fmt.Sprintf("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\nspec:\n  mtls: {mode: %s}\n", mode)
}

// TestBookinfoMutualTLS runs Bookinfo's six pods with real sidecars in network namespaces, their
// certificates from the control plane's CA (30 s lifetimes, so they renew during the test):
// every hop between sidecars is mutual TLS (the destinations' metrics say so, with both
// principals); STRICT refuses a plaintext client outside the mesh at productpage's pod address
// while a client inside a pod still gets through; PERMISSIVE takes the plaintext client again;
// and a request stream across certificate renewals loses nothing.
func TestBookinfoMutualTLS(t *testing.T) {
	const ttl = 30 * time.Second
	l := startXDSLabWith(t, xdsLabOptions{name: "bim", podNet: mtlsPodNet, svcNet: mtlsSvcNet, mtls: true, certTTL: ttl})
	waitUntil(t, 20*time.Second, "every sidecar SYNCED", l.allSynced)
	policy := func(mode string) string {
		data, err := os.ReadFile(filepath.Join(samples, "destination-rule-all.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if mode == "" {
			return string(data)
		}
		return string(data) + "\n---\n" + peerAuth(mode)
	}

	t.Run("every hop is mutual TLS", func(t *testing.T) {
		// Every sidecar must have answered: pages are loaded until each has (no sampling chance
		// to state), within a minute.
		deadline := time.Now().Add(time.Minute)
		for pod, from := range map[string]string{
			"details-v1": productpagePrincipal, "reviews-v1": productpagePrincipal, "reviews-v2": productpagePrincipal,
			"reviews-v3": productpagePrincipal, "ratings-v1": reviewsPrincipal,
		} {
			for {
				m := l.metrics(t, pod)
				mtls, plain := hopSeries(m, from)
				if plain != 0 {
					t.Errorf("%s: %d plaintext series from sidecars; want mutual TLS only:\n%s", pod, plain, grep(m, "istio_requests_total{"))
					break
				}
				if mtls > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s: no mutual TLS series from %s within a minute of page loads:\n%s", pod, from, grep(m, "istio_requests_total{"))
					break
				}
				l.get(anonymous())
			}
		}
		if c := l.certs(t, "productpage-v1"); c.Identity != productpagePrincipal || !c.NotAfter.After(time.Now()) {
			t.Errorf("productpage's /certs: %+v", c)
		}
	})

	t.Run("STRICT refuses a plaintext client", func(t *testing.T) {
		l.applyContent(t, policy("STRICT"))
		l.waitInbound(t, "productpage-v1", "STRICT")
		// A new connection: ones opened before are closed by the sidecar when STRICT comes.
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(l.url)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("a plaintext client outside the mesh got %s from productpage's pod address under STRICT", resp.Status)
		}
		t.Logf("refused as expected: %v", err)
		// A client inside the mesh (an app in reviews-v1's pod, captured by its sidecar) goes
		// through: its sidecar originates mutual TLS.
		if code := l.curlFromPod(t, "reviews-v1", "http://productpage:9080/productpage"); code != "200" {
			t.Fatalf("a client in reviews-v1's pod got %s from productpage under STRICT, want 200", code)
		}
	})

	t.Run("PERMISSIVE accepts the plaintext client again", func(t *testing.T) {
		l.applyContent(t, policy("PERMISSIVE"))
		l.waitInbound(t, "productpage-v1", "PERMISSIVE")
		l.get(anonymous())
	})

	t.Run("principals: a policy allows and denies by the caller's SPIFFE identity", func(t *testing.T) {
		// Istio's details-viewer alone: details admits productpage's identity only. A request
		// from an app in reviews-v1's pod goes out over its sidecar's mutual TLS as
		// bookinfo-reviews and is denied; the same request from productpage's pod passes.
		details := "http://details:9080/details/0"
		doc, err := verify.AuthorizationSample("default", "details-viewer")
		if err != nil {
			t.Fatal(err)
		}
		objs, err := deploy.Decode("details-viewer.yaml", doc)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		restore, err := verify.FileRouter{Path: l.routes}.Apply(ctx, objs)
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, verify.SecurityTimeout, "details-viewer denying bookinfo-reviews", func() bool { return l.curlFromPod(t, "reviews-v1", details) == "403" })
		if code := l.curlFromPod(t, "productpage-v1", details); code != "200" {
			t.Fatalf("productpage's identity got %s from details under details-viewer, want 200", code)
		}
		if err := restore(ctx); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, verify.SecurityTimeout, "details open again", func() bool { return l.curlFromPod(t, "reviews-v1", details) == "200" })
	})

	t.Run("verify's authorization task, the principal steps included", func(t *testing.T) {
		lab := verify.Lab{Namespace: "default", MutualTLS: true, Router: verify.FileRouter{Path: l.routes},
			Browser: verify.Browser{BaseURL: strings.TrimSuffix(l.url, "/productpage"), Timeout: 30 * time.Second}}
		var security []verify.Category
		for _, c := range verify.Suite(lab) {
			if c.Name == "security" {
				c.Checkers = slices.DeleteFunc(c.Checkers, func(k verify.Checker) bool { return !strings.HasPrefix(k.Name, "authz: ") })
				security = append(security, c)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		results, failed := verify.Runner{Poll: 500 * time.Millisecond}.Run(ctx, security, nil)
		var out strings.Builder
		_ = verify.RenderTable(&out, results)
		t.Logf("the authorization task over mutual TLS:\n%s", out.String())
		principal := 0
		for _, r := range results {
			if r.Status != verify.Passed {
				t.Errorf("%s: %s %s", r.Check, r.Status, r.Error)
			}
			if strings.Contains(r.Check, "details-viewer") || strings.Contains(r.Check, "ratings-viewer") {
				principal++
			}
		}
		if failed || principal != 2 {
			t.Fatalf("failed %v, %d principal steps run (want 2)", failed, principal)
		}
	})

	t.Run("renewals under load lose no request", func(t *testing.T) {
		first := map[string]string{}
		for _, p := range Topology().Pods {
			first[p.Name] = l.certs(t, p.Name).Serial
		}
		var ok, failed atomic.Int64
		var firstErr atomic.Value
		deadline := time.Now().Add(ttl + 5*time.Second) // at least two renewals at half of 30 s
		var wg sync.WaitGroup
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &http.Client{Timeout: 30 * time.Second}
				for time.Now().Before(deadline) {
					resp, err := c.Get(l.url)
					if err == nil {
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 || !(page{body: string(body)}).complete() {
							err = fmt.Errorf("%s, reviews or details missing from the page", resp.Status)
						}
					}
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
						continue
					}
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := failed.Load(); n > 0 {
			t.Errorf("%d of %d page loads failed across certificate renewals; first: %v", n, n+ok.Load(), firstErr.Load())
		}
		for _, p := range Topology().Pods {
			if s := l.certs(t, p.Name).Serial; s == first[p.Name] {
				t.Errorf("%s's certificate was not renewed in %s", p.Name, ttl+5*time.Second)
			}
		}
		t.Logf("%d page loads, none failed, every sidecar renewed its certificate", ok.Load())
	})
}

// hopSeries counts a destination sidecar's request series: mutual TLS from the principal from
// (both principals set), and plaintext ones.
func hopSeries(metrics, from string) (mtls, plain int) {
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, "istio_requests_total{") || !strings.Contains(line, `reporter="destination"`) {
			continue
		}
		switch {
		case strings.Contains(line, `connection_security_policy="mutual_tls"`) && strings.Contains(line, `source_principal="`+from+`"`) &&
			strings.Contains(line, `destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-`):
			mtls++
		case strings.Contains(line, `connection_security_policy="none"`):
			plain++
		}
	}
	return mtls, plain
}

func (l *xdsLab) metrics(t *testing.T, pod string) string {
	t.Helper()
	resp, err := http.Get("http://" + l.mesh.PodAddr(pod).String() + ":15090/stats/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

func (l *xdsLab) certs(t *testing.T, pod string) proxy.CertStatus {
	t.Helper()
	resp, err := http.Get("http://" + l.mesh.PodAddr(pod).String() + ":15021/certs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st proxy.CertStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitInbound waits until the pod's sidecar enforces mode.
func (l *xdsLab) waitInbound(t *testing.T, pod, mode string) {
	t.Helper()
	waitUntil(t, 10*time.Second, pod+" inbound "+mode, func() bool { return strings.HasPrefix(l.certs(t, pod).InboundTLS, mode) })
}

// curlFromPod sends a request from an application in pod (UID 65534, captured by the pod's
// sidecar, names resolved by the pod's hosts file) and returns the HTTP status code.
func (l *xdsLab) curlFromPod(t *testing.T, pod, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.mesh.Netns(pod), "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", url).Output()
	if err != nil {
		t.Logf("curl from %s: %v", pod, err)
	}
	return strings.TrimSpace(string(out))
}

// complete reports whether every service answered: details, a reviews version, and ratings
// for the versions that show them.
func (p page) complete() bool {
	return p.reviewsVersion() != "none" && !p.reviewsUnavailable() && !p.ratingsUnavailable() &&
		!strings.Contains(p.body, "product details are currently unavailable")
}

func grep(s, prefix string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
