package local

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/localmesh/localmeshtest"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/localmesh"
)

// samples is where Istio's Bookinfo networking samples are kept, unchanged.
const samples = "../../mesh/config/testdata/istio-samples"

// meshlabBinary is built once by TestMain for the tests that run real pods.
var meshlabBinary string

func TestMain(m *testing.M) {
	code := func() int {
		flag.Parse()
		if os.Geteuid() == 0 && !testing.Short() {
			dir, err := os.MkdirTemp("", "meshlab-bin-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			// The binary is run by UID 1337 and 65534 inside the pods: the directory must be readable.
			if err := os.Chmod(dir, 0o755); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			meshlabBinary = filepath.Join(dir, "meshlab")
			build := exec.Command("go", "build", "-o", meshlabBinary, "github.com/meshlab/meshlab/cmd/meshlab")
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build meshlab: %v\n%s", err, out)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// page classifies one productpage response by the markers Istio's own tests use.
type page struct {
	body    string
	elapsed time.Duration
}

func (p page) reviewsVersion() string {
	switch {
	case strings.Contains(p.body, `class="flex gap-x-1 text-red-500"`):
		return "v3"
	case strings.Contains(p.body, `class="flex gap-x-1 text-black-500"`):
		return "v2"
	case strings.Contains(p.body, "Book Reviews") && !strings.Contains(p.body, "glyphicon glyphicon-star"):
		return "v1"
	}
	return "none"
}

func (p page) reviewsUnavailable() bool {
	return strings.Contains(p.body, "Sorry, product reviews are currently unavailable for this book.")
}

func (p page) ratingsUnavailable() bool {
	return strings.Contains(p.body, "Ratings service is currently unavailable")
}

type bookinfo struct {
	t      *testing.T
	mesh   *localmesh.Mesh
	routes string
	url    string
}

func startBookinfo(t *testing.T) *bookinfo {
	t.Helper()
	localmeshtest.Require(t)
	dir := localmeshtest.Dir(t, "meshlab-bookinfo-local-")
	b := &bookinfo{t: t, routes: filepath.Join(dir, "routes.yaml")}
	b.writeRoutes("destination-rule-all.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := Start(ctx, localmesh.Options{Name: "bit", Binary: meshlabBinary, Dir: filepath.Join(dir, "mesh"),
		RouteFiles: []string{b.routes}})
	if err != nil {
		t.Fatalf("start Bookinfo: %v", err)
	}
	t.Cleanup(func() { m.Stop(context.Background()) })
	b.mesh, b.url = m, ProductpageURL(m)
	return b
}

// writeRoutes replaces the routing file with the concatenation of the named samples and waits
// until every sidecar has loaded it (its config dump changes).
func (b *bookinfo) writeRoutes(samplesFiles ...string) {
	b.t.Helper()
	var docs []string
	for _, f := range samplesFiles {
		data, err := os.ReadFile(filepath.Join(samples, f))
		if err != nil {
			b.t.Fatal(err)
		}
		docs = append(docs, string(data))
	}
	content := strings.Join(docs, "\n---\n")
	if _, err := config.Parse("routes.yaml", []byte(content)); err != nil {
		b.t.Fatalf("the samples must parse unchanged: %v", err)
	}
	before := b.dumps()
	tmp := b.routes + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		b.t.Fatal(err)
	}
	if err := os.Rename(tmp, b.routes); err != nil {
		b.t.Fatal(err)
	}
	if before == nil {
		return
	}
	deadline := time.Now().Add(20 * time.Second)
	for pod, old := range before {
		for b.dump(pod) == old {
			if time.Now().After(deadline) {
				b.t.Fatalf("sidecar of %s did not load the new routes within 20 s", pod)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// dumps returns every sidecar's compiled routing table, or nil before the mesh runs.
func (b *bookinfo) dumps() map[string]string {
	if b.mesh == nil {
		return nil
	}
	out := map[string]string{}
	for _, p := range Topology().Pods {
		out[p.Name] = b.dump(p.Name)
	}
	return out
}

func (b *bookinfo) dump(pod string) string {
	resp, err := http.Get("http://" + b.mesh.PodAddr(pod).String() + ":15021/config_dump")
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

func (b *bookinfo) get(client *http.Client) page {
	b.t.Helper()
	start := time.Now()
	resp, err := client.Get(b.url)
	if err != nil {
		b.t.Fatalf("GET %s: %v", b.url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %s", b.url, resp.Status)
	}
	return page{body: string(data), elapsed: time.Since(start)}
}

func (b *bookinfo) count(client *http.Client, n int) map[string]int {
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		counts[b.get(client).reviewsVersion()]++
	}
	return counts
}

func anonymous() *http.Client { return &http.Client{Timeout: 30 * time.Second} }

// loggedIn returns a client whose session is jason's, logged in through productpage's form.
func (b *bookinfo) loggedIn(user string) *http.Client {
	b.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	login := strings.TrimSuffix(b.url, "/productpage") + "/login"
	resp, err := c.PostForm(login, url.Values{"username": {user}, "passwd": {"password"}})
	if err != nil {
		b.t.Fatalf("login as %s: %v", user, err)
	}
	resp.Body.Close()
	if p := b.get(c); !strings.Contains(p.body, ">"+user+"<") {
		b.t.Fatalf("after login the page does not show %q in the navbar", user)
	}
	return c
}

// TestBookinfoRoutingInNamespaces is the data plane's acceptance test: Bookinfo in network
// namespaces with real capture rules, routed by Istio's own networking samples, applied unchanged.
func TestBookinfoRoutingInNamespaces(t *testing.T) {
	b := startBookinfo(t)

	t.Run("no routing: every reviews version answers", func(t *testing.T) {
		p := b.get(anonymous())
		for _, want := range []string{"<title>Simple Bookstore App</title>", "Book Details", "Book Reviews"} {
			if !strings.Contains(p.body, want) {
				t.Fatalf("productpage lacks %q", want)
			}
		}
		counts := b.count(anonymous(), mixPages) // a version missed by chance: 1.6e-5 (TestStatedChances)
		if counts["v1"] == 0 || counts["v2"] == 0 || counts["v3"] == 0 {
			t.Fatalf("30 requests without routing saw %v; want all three versions", counts)
		}
	})

	t.Run("all-v1: no stars", func(t *testing.T) {
		b.writeRoutes("destination-rule-all.yaml", "virtual-service-all-v1.yaml")
		if counts := b.count(anonymous(), 100); counts["v1"] != 100 {
			t.Fatalf("100 requests with virtual-service-all-v1: %v; want v1 only", counts)
		}
	})

	t.Run("reviews-50-v3: half red", func(t *testing.T) {
		b.writeRoutes("destination-rule-all.yaml", "virtual-service-all-v1.yaml", "virtual-service-reviews-50-v3.yaml")
		// A healthy split misses the bounds with chance 1.4e-5 (TestStatedChances).
		counts := b.count(anonymous(), splitPages)
		if counts["v3"] < splitLow || counts["v3"] > splitHigh || counts["v1"]+counts["v3"] != splitPages {
			t.Fatalf("%d requests with reviews-50-v3: %v; want v3 in %d..%d and the rest v1", splitPages, counts, splitLow, splitHigh)
		}
	})

	t.Run("reviews-test-v2: only jason sees black stars", func(t *testing.T) {
		b.writeRoutes("destination-rule-all.yaml", "virtual-service-all-v1.yaml", "virtual-service-reviews-test-v2.yaml")
		if counts := b.count(anonymous(), 20); counts["v1"] != 20 {
			t.Fatalf("anonymous: %v; want v1 only", counts)
		}
		if counts := b.count(b.loggedIn("jason"), 20); counts["v2"] != 20 {
			t.Fatalf("jason: %v; want v2 only", counts)
		}
		if counts := b.count(b.loggedIn("alice"), 10); counts["v1"] != 10 {
			t.Fatalf("alice: %v; want v1 only", counts)
		}
	})

	t.Run("ratings-test-delay: jason's reviews time out after about 6 s", func(t *testing.T) {
		b.writeRoutes("destination-rule-all.yaml", "virtual-service-all-v1.yaml",
			"virtual-service-reviews-test-v2.yaml", "virtual-service-ratings-test-delay.yaml")
		p := b.get(b.loggedIn("jason"))
		if !p.reviewsUnavailable() {
			t.Fatalf("jason's page does not say reviews are unavailable (version %s)", p.reviewsVersion())
		}
		// productpage waits 3 s for reviews and retries once; the 7 s delay outlasts both.
		if p.elapsed < 5500*time.Millisecond || p.elapsed > 9*time.Second {
			t.Fatalf("the page took %v; want about 6 s (two 3 s attempts)", p.elapsed)
		}
		if p := b.get(anonymous()); p.reviewsUnavailable() || p.reviewsVersion() != "v1" {
			t.Fatalf("anonymous users are not delayed: got version %s", p.reviewsVersion())
		}
	})

	t.Run("ratings-test-abort: ratings unavailable for jason", func(t *testing.T) {
		b.writeRoutes("destination-rule-all.yaml", "virtual-service-all-v1.yaml",
			"virtual-service-reviews-test-v2.yaml", "virtual-service-ratings-test-abort.yaml")
		p := b.get(b.loggedIn("jason"))
		if !p.ratingsUnavailable() {
			t.Fatalf("jason's page does not say ratings are unavailable (version %s)", p.reviewsVersion())
		}
	})

	t.Run("route removed: the mix of versions comes back", func(t *testing.T) {
		b.writeRoutes("destination-rule-all.yaml")
		counts := b.count(anonymous(), mixPages) // a version missed by chance: 1.6e-5 (TestStatedChances)
		if counts["v1"] == 0 || counts["v2"] == 0 || counts["v3"] == 0 {
			t.Fatalf("30 requests after removing the routes saw %v; want all three versions", counts)
		}
	})
}
