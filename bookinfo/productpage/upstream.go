package productpage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/meshlab/meshlab/bookinfo/propagate"
)

// The error texts productpage returns (as {"error": ...}) and renders when a backend fails.
const (
	detailsUnavailable = "Sorry, product details are currently unavailable for this book."
	reviewsUnavailable = "Sorry, product reviews are currently unavailable for this book."
	ratingsUnavailable = "Sorry, product ratings are currently unavailable for this book."
)

// backend is one upstream service productpage calls.
type backend struct {
	app     string // destination_app label and log name: details, reviews, ratings
	baseURL string // e.g. http://reviews:9080/reviews
	tries   int    // 2 for reviews: upstream's deliberate retry
	failure string // error text when every try fails
}

// outcome is a backend's answer: status 200 and its JSON body, or the failure status (the last
// upstream status, or 500 when no response arrived) and nil.
type outcome struct {
	status int
	body   []byte
}

// legacyUserCookie is the plain login cookie of Istio ≤0.8's productpage.
const legacyUserCookie = "user"

// forwardHeaders builds the headers productpage sends to every backend: the copied list, B3
// re-encoded, and end-user from the session (never from the client). With LegacyUserCookie the
// cookie header is what Istio ≤0.8 sent instead: only "user=<name>", only when logged in.
func (s *server) forwardHeaders(r *http.Request, user string) http.Header {
	h := http.Header{}
	propagate.B3(h, r.Header)
	if user != "" {
		h.Set("end-user", user)
	}
	propagate.Copy(h, r.Header, propagate.ProductPageCopied)
	if s.opts.LegacyUserCookie {
		h.Del("cookie")
		if user != "" {
			h.Set("cookie", legacyUserCookie+"="+user)
		}
	}
	return h
}

// fetch calls the backend for a product. Each try has its own timeout (upstream: requests'
// timeout=3.0); a try that does not return 200 is retried while tries remain, whatever the
// failure, and the last try decides.
func (s *server) fetch(ctx context.Context, b backend, productID string, h http.Header) outcome {
	target := b.baseURL + "/" + url.PathEscape(productID)
	out := outcome{status: http.StatusInternalServerError}
	for try := 1; try <= b.tries; try++ {
		status, body, err := s.get(ctx, target, h)
		switch {
		case err != nil:
			s.opts.Log.Warn("productpage: backend call failed", "app", b.app, "url", target, "try", try, "err", err)
			out = outcome{status: http.StatusInternalServerError}
		case status != http.StatusOK:
			s.opts.Log.Warn("productpage: backend call failed", "app", b.app, "url", target, "try", try, "status", status)
			out = outcome{status: status}
		default:
			out = outcome{status: http.StatusOK, body: body}
		}
		if out.status == http.StatusOK || ctx.Err() != nil {
			break
		}
	}
	s.results.WithLabelValues(b.app, strconv.Itoa(out.status)).Inc()
	return out
}

// get makes one try with its own deadline and reads the body, since a reply whose body never
// arrives is as failed as one that never starts. A 200 body must be JSON: productpage parses it.
func (s *server) get(ctx context.Context, target string, h http.Header) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("build request for %s: %w", target, err)
	}
	req.Header = h.Clone()
	res, err := s.opts.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBackendBody))
	if err != nil {
		return 0, nil, fmt.Errorf("read reply from %s: %w", target, err)
	}
	if res.StatusCode == http.StatusOK && !json.Valid(body) {
		return 0, nil, fmt.Errorf("reply from %s is not JSON", target)
	}
	return res.StatusCode, body, nil
}

// maxBackendBody bounds what productpage reads from a backend; Bookinfo's replies are < 1 KiB.
const maxBackendBody = 1 << 20
