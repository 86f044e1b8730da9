package serve

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

var quietLog = slog.New(slog.DiscardHandler)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestServiceURL(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{nil, "http://reviews:9080"},
		{map[string]string{"SERVICES_DOMAIN": "default.svc.cluster.local"}, "http://reviews.default.svc.cluster.local:9080"},
		{map[string]string{"REVIEWS_HOSTNAME": "127.0.0.1", "REVIEWS_SERVICE_PORT": "19083"}, "http://127.0.0.1:19083"},
		{map[string]string{"REVIEWS_HOSTNAME": "::1"}, "http://[::1]:9080"},
	}
	for _, tc := range cases {
		if got := serviceURL(envOf(tc.env), "REVIEWS", "reviews"); got != tc.want {
			t.Errorf("serviceURL(%v) = %s, want %s", tc.env, got, tc.want)
		}
	}
}

func TestHandlerRefusesWhatItCannotServe(t *testing.T) {
	bad := []Config{
		{Service: "frontpage"},
		{Service: "productpage", Version: "v2"},
		{Service: "details", Version: "v2"},
		{Service: "details", Getenv: envOf(map[string]string{"ENABLE_EXTERNAL_BOOK_SERVICE": "true"})},
		{Service: "reviews", Version: "v4"},
		{Service: "ratings", Version: "v2"},
	}
	for _, cfg := range bad {
		if _, err := Handler(cfg); err == nil {
			t.Errorf("Handler(%s %s) accepted", cfg.Service, cfg.Version)
		}
	}
}

// startService runs one service on a free loopback port until the test ends and returns its
// host and port.
func startService(t testing.TB, service, version string, env map[string]string) (host, port string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Service: service, Version: version, Listen: "127.0.0.1:0",
			Getenv: envOf(env), Log: quietLog}, func(a net.Addr) { addrs <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s %s: %v", service, version, err)
		}
	})
	select {
	case a := <-addrs:
		host, port, err := net.SplitHostPort(a.String())
		if err != nil {
			t.Fatal(err)
		}
		return host, port
	case err := <-done:
		t.Fatalf("%s %s did not start: %v", service, version, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s %s did not start within 10 s", service, version)
	}
	return "", ""
}

// TestRealWiring runs the four services as real servers on loopback, wired through upstream's
// environment variables, once per reviews version, and reads the page as a browser would.
func TestRealWiring(t *testing.T) {
	ratingsHost, ratingsPort := startService(t, "ratings", "v1", nil)
	detailsHost, detailsPort := startService(t, "details", "v1", nil)
	cases := []struct {
		version, starsDiv string
		stars             int
	}{
		{"v1", "", 0},
		{"v2", `class="flex gap-x-1 text-black-500"`, 9},
		{"v3", `class="flex gap-x-1 text-red-500"`, 9},
	}
	for _, tc := range cases {
		t.Run("reviews-"+tc.version, func(t *testing.T) {
			reviewsHost, reviewsPort := startService(t, "reviews", tc.version, map[string]string{
				"RATINGS_HOSTNAME": ratingsHost, "RATINGS_SERVICE_PORT": ratingsPort,
				"HOSTNAME": "reviews-" + tc.version + "-pod",
			})
			ppHost, ppPort := startService(t, "productpage", "v1", map[string]string{
				"DETAILS_HOSTNAME": detailsHost, "DETAILS_SERVICE_PORT": detailsPort,
				"REVIEWS_HOSTNAME": reviewsHost, "REVIEWS_SERVICE_PORT": reviewsPort,
				"RATINGS_HOSTNAME": ratingsHost, "RATINGS_SERVICE_PORT": ratingsPort,
			})
			base := "http://" + net.JoinHostPort(ppHost, ppPort)
			jar, err := cookiejar.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Jar: jar, Timeout: 30 * time.Second}

			page := get(t, client, base+"/productpage")
			for _, want := range []string{"<title>Simple Bookstore App</title>", "Book Details", "Book Reviews",
				"reviews-" + tc.version + "-pod", `id="sign-in-button"`} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if n := strings.Count(page, `id="glyphicon glyphicon-star"`); n != tc.stars {
				t.Errorf("%d full stars, want %d", n, tc.stars)
			}
			if tc.starsDiv != "" && strings.Count(page, tc.starsDiv) != 2 {
				t.Errorf("page lacks two %s", tc.starsDiv)
			}

			// Log in through the real form post; the client follows the redirect to the Referer.
			form := url.Values{"username": {"jason"}, "passwd": {"x"}}
			req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/login", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Referer", base+"/productpage")
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.Request.URL.Path != "/productpage" || !strings.Contains(string(body), ">jason<") {
				t.Errorf("after login landed on %s, jason shown: %v", res.Request.URL, strings.Contains(string(body), ">jason<"))
			}
		})
	}
}

func get(t *testing.T, client *http.Client, target string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", target, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("GET %s = %d", target, res.StatusCode)
	}
	return string(body)
}

func TestAccessLog(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := accessLog(log, "details", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	req := httptest.NewRequestWithContext(t.Context(), "GET", "/details/0", nil)
	req.Header.Set("x-request-id", "req-7")
	h.ServeHTTP(httptest.NewRecorder(), req)
	for _, want := range []string{"service=details", "uri=/details/0", "status=418", "x-request-id=req-7"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log line %q lacks %s", buf.String(), want)
		}
	}
}

// TestReviewsDelayDefaults is Istio's fault-injection outcome with upstream's own numbers: a
// reviews that never answers costs productpage two tries of 3 s, then the page shows the
// reviews error. It takes about 6 s, so -short skips it.
func TestReviewsDelayDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 6 s (two 3 s tries); run without -short")
	}
	var mu sync.Mutex
	tries := 0
	stuck := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tries++
		mu.Unlock()
		<-r.Context().Done() // like reviews v2 waiting on a ratings delayed by 7 s
	}))
	t.Cleanup(stuck.Close)
	detailsHost, detailsPort := startService(t, "details", "v1", nil)
	reviewsHost, reviewsPort, err := net.SplitHostPort(strings.TrimPrefix(stuck.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	ppHost, ppPort := startService(t, "productpage", "v1", map[string]string{
		"DETAILS_HOSTNAME": detailsHost, "DETAILS_SERVICE_PORT": detailsPort,
		"REVIEWS_HOSTNAME": reviewsHost, "REVIEWS_SERVICE_PORT": reviewsPort,
	})
	start := time.Now()
	page := get(t, &http.Client{Timeout: time.Minute}, "http://"+net.JoinHostPort(ppHost, ppPort)+"/productpage")
	t.Logf("page with a stuck reviews took %v (upstream: about 6 s)", time.Since(start).Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	if tries != 2 {
		t.Errorf("reviews tried %d times, want 2", tries)
	}
	if !strings.Contains(page, "Sorry, product reviews are currently unavailable for this book.") {
		t.Error("page lacks the reviews error")
	}
}
