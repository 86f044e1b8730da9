// Package browser drives a headless Chromium (Debian's chromium package) for tests that must see
// a page as a person would: the DOM after the page's scripts ran, screenshots, what the page
// requested. One launch recipe for every such test (Prometheus's UI, Bookinfo's productpage,
// the mesh graph picture).
package browser

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// EnvPath names a Chromium binary to use instead of the one found on PATH.
const EnvPath = "MESHLAB_CHROMIUM"

// Path finds Chromium: $MESHLAB_CHROMIUM, else chromium (Debian) or chromium-browser on PATH.
func Path() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		return p, nil
	}
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH (Debian: apt-get install chromium; or set " + EnvPath + ")")
}

// flags are the command-line switches of every launch, on top of chromedp's defaults (headless,
// no first run, no background networking, no sync, no extensions...). This machine has no network
// beyond loopback: without them Chromium's own services try to reach the internet at every start,
// and their refused connections fill the log. Only loopback and the addresses of allow resolve
// (the rule applies to IP literals too), so a page cannot make the browser send anything elsewhere.
func flags(profile string, width, height int, allow []netip.Addr) []chromedp.ExecAllocatorOption {
	rules := "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]"
	for _, a := range allow {
		if a.Is6() {
			rules += ", EXCLUDE [" + a.String() + "]"
		} else {
			rules += ", EXCLUDE " + a.String()
		}
	}
	return append(append([]chromedp.ExecAllocatorOption(nil), chromedp.DefaultExecAllocatorOptions[:]...),
		chromedp.UserDataDir(profile),
		chromedp.Flag("no-sandbox", true), // tests run as root, where the sandbox refuses to start
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("host-resolver-rules", rules),
		chromedp.WindowSize(width, height),
	)
}

// Browser is one headless Chromium with one tab.
type Browser struct {
	ctx     context.Context // the tab's chromedp context
	cancel  func()
	profile string

	mu         sync.Mutex
	requests   []string // every URL the tab requested, in order
	exceptions []string // uncaught JavaScript exceptions
}

// Start launches Chromium with a new, empty profile and a 1280×900 window. The browser lives
// until Close (or until ctx ends). allow names the addresses besides loopback that pages may
// reach (a lab's nodes in network namespaces of this machine), each one IP address: no host
// names, ranges or patterns, so a caller cannot widen the rule by accident. Nothing else resolves.
func Start(ctx context.Context, allow ...string) (*Browser, error) {
	addrs, err := allowed(allow)
	if err != nil {
		return nil, err
	}
	path, err := Path()
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "meshlab-chromium-")
	if err != nil {
		return nil, err
	}
	opts := append(flags(profile, 1280, 900, addrs), chromedp.ExecPath(path))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	tctx, tcancel := chromedp.NewContext(actx)
	b := &Browser{ctx: tctx, profile: profile, cancel: func() { tcancel(); acancel() }}
	err = chromedp.Listen(tctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, msg))
		}
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	return b, nil
}

// allowed parses Start's allow list: IP addresses only, and none that means "any host".
func allowed(allow []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range allow {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("browser: allow %q: want one IP address (a lab node's), not a name or pattern", s)
		}
		if a.IsUnspecified() || a.IsMulticast() {
			return nil, fmt.Errorf("browser: allow %s: not the address of one host", s)
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}

// Close ends the browser and removes its profile.
func (b *Browser) Close() {
	b.cancel()
	_ = os.RemoveAll(b.profile)
}

// Context is the tab's chromedp context, for actions this package has no helper for (evaluate
// a canvas's pixels, click a button): chromedp.Run(b.Context(), ...).
func (b *Browser) Context() context.Context { return b.ctx }

// Open loads url and waits until its load event fired.
func (b *Browser) Open(ctx context.Context, url string) error {
	ctx, cancel := b.within(ctx)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return fmt.Errorf("open %s: %w", url, err)
	}
	return nil
}

// WaitText waits until the text of the page's body contains every one of want, and returns that
// text. The text is what the page's scripts rendered (innerText: visible text, as a person reads
// it), not the HTML the server sent. On timeout the error shows the text there was.
func (b *Browser) WaitText(ctx context.Context, want ...string) (string, error) {
	outer := ctx
	ctx, cancel := b.within(ctx)
	defer cancel()
	var text string
	for {
		t, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		if err == nil {
			text = t
			if containsAll(text, want) {
				return text, nil
			}
		}
		select {
		case <-ctx.Done():
			return text, fmt.Errorf("page never showed %q (%v); its text:\n%s", want, context.Cause(outer), text)
		case <-time.After(250 * time.Millisecond): // polling interval of a deadline-bound wait
		}
	}
}

// colouredPixels counts, on the page's fullest canvas, the pixels drawn in a colour (channels
// apart by more than 80 of 255): charting libraries (uPlot, Prometheus's) draw grid, axes and
// labels in greys and each series in a colour of its own, so these are the plotted data.
const colouredPixels = `(() => {
  let best = 0;
  for (const c of document.querySelectorAll("canvas")) {
    if (c.width === 0 || c.height === 0) continue;
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      const hi = Math.max(d[i], d[i+1], d[i+2]), lo = Math.min(d[i], d[i+1], d[i+2]);
      if (d[i+3] > 128 && hi - lo > 80) n++;
    }
    best = Math.max(best, n);
  }
  return best;
})()`

// WaitCanvasColoured waits until a canvas of the page has more than min coloured pixels (a
// graph with its series drawn, not just an empty frame) and returns their number.
func (b *Browser) WaitCanvasColoured(ctx context.Context, min int) (int, error) {
	outer := ctx
	ctx, cancel := b.within(ctx)
	defer cancel()
	n := 0
	var err error
	for {
		var got int
		if got, err = chromedp.Run(ctx, chromedp.Evaluate[int](colouredPixels)); err == nil {
			n = got
			if n > min {
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return n, fmt.Errorf("no canvas with more than %d coloured pixels (best %d, last error %v): %v", min, n, err, context.Cause(outer))
		case <-time.After(250 * time.Millisecond): // polling interval of a deadline-bound wait
		}
	}
}

// Screenshot writes a PNG of the whole page to file, creating its directory.
func (b *Browser) Screenshot(ctx context.Context, file string) error {
	ctx, cancel := b.within(ctx)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, png, 0o644)
}

// Requests are the URLs the tab requested so far.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}

// Exceptions are the uncaught JavaScript exceptions of the tab so far.
func (b *Browser) Exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.exceptions...)
}

// OffHost lists the requests (of Requests) that went to another host than host:port, ignoring
// data: and blob: URLs the page made itself: what an offline page must not have.
func OffHost(requests []string, hostPort string) []string {
	var off []string
	for _, r := range requests {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "data" && u.Scheme != "blob" && u.Host != hostPort) {
			off = append(off, r)
		}
	}
	return off
}

// within bounds an action by ctx's deadline while running it in the tab's context (the tab must
// not inherit a short deadline: that would end the browser).
func (b *Browser) within(ctx context.Context) (context.Context, context.CancelFunc) {
	tctx, cancel := context.WithCancel(b.ctx)
	stop := context.AfterFunc(ctx, cancel)
	return tctx, func() { stop(); cancel() }
}

func containsAll(s string, subs []string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
