package browser

import (
	"context"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// The page's HTML holds no answer: only its script, run by the browser, writes it (after a
// delay, as an app that fetches its data does). The script also throws once, afterwards.
const page = `<!doctype html><html><head><title>t</title><script src="/app.js"></script></head>
<body style="background:#fff"><div id="app">loading</div></body></html>`

const script = `setTimeout(function () {
  document.getElementById("app").innerHTML =
    '<h1 style="color:#c00;font-size:64px">rendered by script ' + (6 * 7) + '</h1>';
  setTimeout(function () { throw new Error("deliberate test exception"); }, 0);
}, 300);`

func TestBrowserSeesWhatScriptsRender(t *testing.T) {
	b := ForTest(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(page))
		case "/app.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write([]byte(script))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if err := b.Open(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	text, err := b.WaitText(ctx, "rendered by script 42")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "loading") {
		t.Errorf("text still has the HTML shell's placeholder: %q", text)
	}

	shot := Artifact(t, "page.png")
	if err := b.Screenshot(ctx, shot); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", shot, err)
	}
	if w := img.Bounds().Dx(); w != 1280 {
		t.Errorf("screenshot is %d px wide, want the window's 1280", w)
	}
	red := 0
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 2 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 2 {
			if r, g, bl, _ := img.At(x, y).RGBA(); r > 0xa000 && g < 0x4000 && bl < 0x4000 {
				red++
			}
		}
	}
	if red == 0 {
		t.Errorf("screenshot %s has no pixel of the rendered red heading", shot)
	}

	u, _ := url.Parse(srv.URL)
	reqs := b.Requests()
	if !strings.Contains(strings.Join(reqs, " "), "/app.js") {
		t.Errorf("requests %v miss the page's script", reqs)
	}
	if off := OffHost(reqs, u.Host); len(off) > 0 {
		t.Errorf("requests off %s: %v", u.Host, off)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(b.Exceptions()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // polling interval of a deadline-bound wait
	}
	if ex := b.Exceptions(); len(ex) != 1 || !strings.Contains(ex[0], "deliberate test exception") {
		t.Errorf("exceptions = %q, want the page's one", ex)
	}

	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	if _, err := b.WaitText(short, "never shown"); err == nil || !strings.Contains(err.Error(), "rendered by script 42") {
		t.Errorf("WaitText of absent text: %v; want a timeout that shows the page's text", err)
	}
}

func TestOffHost(t *testing.T) {
	got := OffHost([]string{
		"http://127.0.0.1:9090/query", "http://127.0.0.1:9090/assets/x.js", "data:image/png;base64,AA",
		"http://127.0.0.1:9091/other", "https://fonts.example/f.woff", "blob:http://127.0.0.1:9090/1",
	}, "127.0.0.1:9090")
	want := []string{"http://127.0.0.1:9091/other", "https://fonts.example/f.woff"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("OffHost = %v, want %v", got, want)
	}
}

// TestOnlyAllowedAddressesResolve: a page on another loopback address (127.0.0.2, standing in
// for a lab node in a network namespace) does not load in a browser that was not given it, and
// loads in one that was; names and patterns are refused before Chromium starts.
func TestOnlyAllowedAddressesResolve(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address here: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><body>lab node page</body>`))
	}))
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	closed := ForTest(t)
	if err := closed.Open(ctx, srv.URL+"/"); err == nil || !strings.Contains(err.Error(), "ERR_NAME_NOT_RESOLVED") {
		t.Errorf("a browser not allowed 127.0.0.2 opened %s: %v; want ERR_NAME_NOT_RESOLVED", srv.URL, err)
	}

	open := ForTest(t, "127.0.0.2")
	if err := open.Open(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	if _, err := open.WaitText(ctx, "lab node page"); err != nil {
		t.Errorf("a browser allowed 127.0.0.2: %v", err)
	}

	for _, bad := range []string{"*", "node1", "10.0.0.1, MAP * 10.0.0.2", "0.0.0.0", "10.0.0.0/8", "[::1]"} {
		if b, err := Start(ctx, bad); err == nil {
			b.Close()
			t.Errorf("Start(allow %q) accepted it", bad)
		}
	}
}

// TestWaitCanvasColoured sees a series drawn on a canvas by script, and only then.
func TestWaitCanvasColoured(t *testing.T) {
	b := ForTest(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><body><canvas id="c" width="200" height="100"></canvas><script>
const g = document.getElementById("c").getContext("2d");
g.strokeStyle = "#888"; g.strokeRect(0, 0, 200, 100); // a grey frame: no data
setTimeout(() => { g.strokeStyle = "#1f77b4"; g.lineWidth = 3; g.beginPath();
  g.moveTo(0, 90); g.lineTo(100, 20); g.lineTo(200, 60); g.stroke(); }, 500);
</script></body>`))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.Open(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	n, err := b.WaitCanvasColoured(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n < 300 { // three pixels wide over 200 px of line
		t.Errorf("%d coloured pixels; the line has more", n)
	}
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	if _, err := b.WaitCanvasColoured(short, 100000); err == nil {
		t.Error("WaitCanvasColoured saw more coloured pixels than the canvas has")
	}
}
