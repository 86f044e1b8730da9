package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshlab/meshlab/bookinfo/deploy"
	"github.com/meshlab/meshlab/mesh/jwtauth/jwtissuer"
)

// Istio's Bookinfo authorization task ("Authorization for HTTP traffic"), step by step, and a JWT
// check with a key made for the run. Each step applies the task's policies so far through the
// Router, observes productpage through the ingress gateway until it shows what the docs say
// (within SecurityTimeout, the time it took in the table), and puts the user's config back.

// SecurityTimeout bounds how long a policy may take to show on the page.
const SecurityTimeout = 30 * time.Second

// The messages Bookinfo's pages show when a hop is refused, as Istio's task quotes them.
const (
	errDetails = "Error fetching product details"
	errReviews = "Error fetching product reviews"
	errRatings = "Ratings service is currently unavailable"
	rbacDenied = "RBAC: access denied"
)

// AuthorizationStep is one step of the task: the samples applied so far and what the page must
// show.
type AuthorizationStep struct {
	Name, Expected string
	Samples        []string // authz-http sample names, in the task's order
	NeedsMTLS      bool     // the step's policies name principals, which only mutual TLS gives
	OK             func(p Page) error
}

// AuthorizationSteps are the steps of Istio's Bookinfo authorization task.
func AuthorizationSteps() []AuthorizationStep {
	has := func(p Page, want ...string) error {
		for _, w := range want {
			if !strings.Contains(p.Body, w) {
				return fmt.Errorf("the page lacks %q", w)
			}
		}
		return nil
	}
	lacks := func(p Page, bad ...string) error {
		for _, b := range bad {
			if strings.Contains(p.Body, b) {
				return fmt.Errorf("the page still shows %q", b)
			}
		}
		return nil
	}
	status := func(p Page, code int) error {
		if p.Status != code {
			return fmt.Errorf("productpage answered %d, want %d", p.Status, code)
		}
		return nil
	}
	return []AuthorizationStep{{
		Name: "allow-nothing", Expected: "productpage 403 " + rbacDenied,
		Samples: []string{"allow-nothing"},
		OK: func(p Page) error {
			if p.Status != http.StatusForbidden || p.Body != rbacDenied {
				return fmt.Errorf("productpage answered %d %.80q, want 403 %q", p.Status, p.Body, rbacDenied)
			}
			return nil
		},
	}, {
		Name: "productpage-viewer", Expected: "the page, with " + errDetails + " and " + errReviews,
		Samples: []string{"allow-nothing", "productpage-viewer"},
		OK: func(p Page) error {
			return errors.Join(status(p, 200), has(p, errDetails, errReviews))
		},
	}, {
		Name: "details-viewer + reviews-viewer", Expected: "details and reviews back; reviews say " + errRatings,
		Samples:   []string{"allow-nothing", "productpage-viewer", "details-viewer", "reviews-viewer"},
		NeedsMTLS: true,
		OK: func(p Page) error {
			return errors.Join(status(p, 200), lacks(p, errDetails, errReviews), has(p, "Book Details", "Book Reviews"),
				has(p, errRatings))
		},
	}, {
		// reviews v1 shows no stars at any time: "back" means no "unavailable", and stars on a
		// v2 or v3 page (Observe fetches until one comes).
		Name: "ratings-viewer", Expected: "stars back (no " + errRatings + ")",
		Samples:   []string{"allow-nothing", "productpage-viewer", "details-viewer", "reviews-viewer", "ratings-viewer"},
		NeedsMTLS: true,
		OK: func(p Page) error {
			return errors.Join(status(p, 200), lacks(p, errDetails, errReviews, errRatings), has(p, "glyphicon glyphicon-star"))
		},
	}}
}

// AuthorizationSample returns one of the task's policies for Bookinfo's namespace. The task's
// files name namespace default (and principals in it); for Bookinfo elsewhere they get its
// namespace, otherwise they are byte for byte the docs'.
func AuthorizationSample(namespace, name string) ([]byte, error) {
	data, err := deploy.Sample("authz-http/" + name + ".yaml")
	if err != nil || namespace == "default" {
		return data, err
	}
	text := strings.ReplaceAll(string(data), "namespace: default", "namespace: "+namespace)
	return []byte(strings.ReplaceAll(text, "cluster.local/ns/default/", "cluster.local/ns/"+namespace+"/")), nil
}

// securityObjects decodes the samples for Bookinfo's namespace.
func securityObjects(namespace string, samples []string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, s := range samples {
		data, err := AuthorizationSample(namespace, s)
		if err != nil {
			return nil, err
		}
		o, err := deploy.Decode(s+".yaml", data)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

// applyAndObserve applies objs, polls fetch until ok holds, and always restores.
func applyAndObserve(ctx context.Context, r Router, objs []*unstructured.Unstructured, fetch func(context.Context) (Page, error),
	ok func(Page) error, what string) (o Observation, err error) {
	restore, err := r.Apply(ctx, objs)
	defer func() {
		if restore == nil {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RestoreTimeout)
		defer cancel()
		if rerr := restore(rctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("YOUR POLICIES WERE NOT RESTORED: %w", rerr))
		}
	}()
	if err != nil {
		return Observation{}, err
	}
	start := time.Now()
	deadline := start.Add(SecurityTimeout)
	for {
		p, ferr := fetch(ctx)
		last := ferr
		if ferr == nil {
			last = ok(p)
		}
		if last == nil {
			return Observation{Observed: fmt.Sprintf("%s, %.1f s after the apply", what, time.Since(start).Seconds())}, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return Observation{Observed: "not observed within " + SecurityTimeout.String()}, last
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// authorizationCheckers are the checklist of the task and the JWT check.
func authorizationCheckers(l Lab, skipIf func(bool, string, CheckFunc) CheckFunc) []Checker {
	var c []Checker
	noRouter := l.Router == nil
	for _, s := range AuthorizationSteps() {
		check := func(ctx context.Context) (Observation, error) {
			objs, err := securityObjects(l.Namespace, s.Samples)
			if err != nil {
				return Observation{}, err
			}
			return applyAndObserve(ctx, l.Router, objs, func(ctx context.Context) (Page, error) { return l.Browser.Fetch(ctx, nil) }, s.OK, s.Expected)
		}
		if s.NeedsMTLS {
			check = skipIf(!l.MutualTLS, "the policies name principals, which need mutual TLS between the sidecars (workload identities)", check)
		}
		c = append(c, Checker{
			Name: "authz: " + s.Name, Expected: s.Expected,
			Hint:  "the sidecars' policies: :15021/config_dump of productpage, details, reviews, ratings; denials are logged by the receiving sidecar as rbac_access_denied_matched_policy[...]",
			Check: skipIf(noRouter, "no router to apply policies with", check),
		})
	}
	c = append(c, Checker{
		Name: "jwt", Expected: "401 with a bad token, the page with a good one, 403 without one (a policy requires a request principal)",
		Hint:  "productpage's sidecar logs 'jwt: request refused' with Envoy's reason; its :15021/config_dump lists the RequestAuthentication",
		Check: skipIf(noRouter, "no router to apply policies with", func(ctx context.Context) (Observation, error) { return jwtCheck(ctx, l) }),
	})
	return c
}

const testIssuer = "testing@secure.istio.io"

// jwtCheck applies Istio's JWT task shape to productpage with a key made for this run.
func jwtCheck(ctx context.Context, l Lab) (Observation, error) {
	key, err := jwtissuer.New("verify")
	if err != nil {
		return Observation{}, err
	}
	other, err := jwtissuer.New("verify") // the same key ID, another key: a forged token
	if err != nil {
		return Observation{}, err
	}
	jwks, _ := json.Marshal(key.JWKS())
	ra := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
		"metadata": map[string]any{"name": "jwt-example", "namespace": l.Namespace},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "productpage"}},
			"jwtRules": []any{map[string]any{"issuer": testIssuer, "jwks": string(jwks)}},
		},
	}}
	ap := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
		"metadata": map[string]any{"name": "require-jwt", "namespace": l.Namespace},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "productpage"}},
			"action":   "ALLOW",
			"rules": []any{map[string]any{"from": []any{map[string]any{"source": map[string]any{
				"requestPrincipals": []any{testIssuer + "/" + testIssuer}}}}}},
		},
	}}
	good, err := signJWT(key, time.Hour)
	if err != nil {
		return Observation{}, err
	}
	bad, err := signJWT(other, time.Hour)
	if err != nil {
		return Observation{}, err
	}
	var seen []string
	fetch := func(ctx context.Context) (Page, error) { return l.Browser.Fetch(ctx, nil) }
	o, err := applyAndObserve(ctx, l.Router, []*unstructured.Unstructured{ra, ap}, fetch, func(p Page) error {
		if p.Status != http.StatusForbidden {
			return fmt.Errorf("without a token: %d, want 403", p.Status)
		}
		// The policy is in force: the two token cases must hold at once.
		bp, err := l.Browser.Fetch(ctx, map[string]string{"Authorization": "Bearer " + bad})
		if err != nil {
			return err
		}
		if bp.Status != http.StatusUnauthorized {
			return fmt.Errorf("a token signed by another key: %d %.60q, want 401", bp.Status, bp.Body)
		}
		gp, err := l.Browser.Fetch(ctx, map[string]string{"Authorization": "Bearer " + good})
		if err != nil {
			return err
		}
		if gp.Status != http.StatusOK || !strings.Contains(gp.Body, "Book Details") {
			return fmt.Errorf("a good token: %d, want the page", gp.Status)
		}
		seen = []string{fmt.Sprintf("401 %q", strings.TrimSpace(bp.Body)), "200", "403"}
		return nil
	}, "policy in force")
	if err == nil {
		o.Observed = "bad token " + seen[0] + ", good token " + seen[1] + ", none " + seen[2] + "; " + o.Observed
	}
	return o, err
}

func signJWT(iss *jwtissuer.Issuer, ttl time.Duration) (string, error) {
	return iss.Sign(map[string]any{"iss": testIssuer, "sub": testIssuer, "exp": time.Now().Add(ttl).Unix()})
}

// Fetch gets /productpage anonymously with extra headers and returns whatever it answered.
func (b Browser) Fetch(ctx context.Context, hdr map[string]string) (Page, error) {
	u := b.BaseURL + "/productpage"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Page{}, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := b.client(nil).Do(req)
	if err != nil {
		return Page{}, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return Page{Status: resp.StatusCode, Body: string(data), Elapsed: time.Since(start)}, err
}
