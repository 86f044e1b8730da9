package bundle

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/meshlab/meshlab/provision/versions"
)

// DefaultProbeTimeout bounds the reachability probe: long enough for a slow link, short enough
// that a machine without the internet falls back to the source build at once.
const DefaultProbeTimeout = 5 * time.Second

// ProbeURLs are what an online build reaches: the hosts of the release downloads and the
// registry API of every image's registry (mirrored registries through their mirror), sorted.
func ProbeURLs(dls []versions.Download, images []string, p Puller) []string {
	set := map[string]bool{}
	for _, d := range dls {
		if u, err := url.Parse(d.URL); err == nil && u.Host != "" {
			set[u.Scheme+"://"+u.Host+"/"] = true
		}
	}
	for _, ref := range images {
		r, err := name.ParseReference(ref)
		if err != nil {
			continue
		}
		src, err := p.source(r)
		if err != nil {
			continue
		}
		set[src.Scheme()+"://"+src.RegistryStr()+"/v2/"] = true
	}
	out := make([]string, 0, len(set))
	for u := range set {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// Probe asks every URL at once and returns nil when each answered with any HTTP response
// (a registry's 401 is an answer), else an error naming each that did not and why. It takes at
// most timeout.
func Probe(ctx context.Context, c *http.Client, urls []string, timeout time.Duration) error {
	if c == nil {
		c = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var mu sync.Mutex
	var failed []string
	var wg sync.WaitGroup
	for _, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err == nil {
				var resp *http.Response
				if resp, err = c.Do(req); err == nil {
					resp.Body.Close()
				}
			}
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					err = fmt.Errorf("no answer within %s", timeout)
				}
				mu.Lock()
				failed = append(failed, fmt.Sprintf("%s: %v", u, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("%d of %d upstream hosts did not answer:\n  %s", len(failed), len(urls), strings.Join(failed, "\n  "))
	}
	return nil
}
