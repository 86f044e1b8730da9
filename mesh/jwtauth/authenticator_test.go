package jwtauth

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/mesh/jwtauth/jwtissuer"
)

// signer is an issuer made in the test with its JWKS as the jwks field takes it.
type signer struct {
	*jwtissuer.Issuer
	jwks string
}

func newSigner(t testing.TB, kid string) *signer {
	t.Helper()
	is, err := jwtissuer.New(kid)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(is.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	return &signer{Issuer: is, jwks: string(b)}
}

func (s *signer) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok, err := s.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func requestAuthn(t testing.TB, doc string) *securityv1.RequestAuthentication {
	t.Helper()
	ra := &securityv1.RequestAuthentication{}
	if err := yaml.UnmarshalStrict([]byte(doc), ra); err != nil {
		t.Fatal(err)
	}
	return ra
}

func inlineRule(s *signer, extra string) string {
	jwks, _ := json.Marshal(s.jwks)
	return `
metadata: {name: jwt-example, namespace: foo}
spec:
  selector:
    matchLabels: {app: httpbin}
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwks: ` + string(jwks) + extra
}

func TestAuthenticate(t *testing.T) {
	s := newSigner(t, "k1")
	other := newSigner(t, "k1") // same kid, another key: a forged token
	a, err := Compile([]*securityv1.RequestAuthentication{requestAuthn(t, inlineRule(s, `
    audiences: ["bookinfo"]
    outputClaimToHeaders:
    - {header: x-jwt-group, claim: group}
    - {header: x-jwt-level, claim: level}`))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	good := map[string]any{"iss": "testing@secure.istio.io", "sub": "alice", "aud": []string{"bookinfo"}, "exp": now + 3600, "group": "admins", "level": 3}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	for _, c := range []struct {
		name, header, query string
		wantPrincipal       string
		wantFail            string
	}{
		{name: "no token"},
		{name: "good token", header: "Bearer " + s.sign(t, good), wantPrincipal: "testing@secure.istio.io/alice"},
		{name: "access_token parameter", query: "access_token=" + s.sign(t, good), wantPrincipal: "testing@secure.istio.io/alice"},
		{name: "another key", header: "Bearer " + other.sign(t, good), wantFail: "Jwt verification fails"},
		{name: "garbage", header: "Bearer abc", wantFail: "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"},
		{name: "expired", header: "Bearer " + s.sign(t, with("exp", now-3600)), wantFail: "Jwt is expired"},
		{name: "within the clock skew", header: "Bearer " + s.sign(t, with("exp", now-30)), wantPrincipal: "testing@secure.istio.io/alice"},
		{name: "not yet valid", header: "Bearer " + s.sign(t, with("nbf", now+3600)), wantFail: "Jwt not yet valid"},
		{name: "unknown issuer", header: "Bearer " + s.sign(t, with("iss", "someone@else")), wantFail: "Jwt issuer is not configured"},
		{name: "wrong audience", header: "Bearer " + s.sign(t, with("aud", "other")), wantFail: "Audiences in Jwt are not allowed"},
		{name: "audience as a string", header: "Bearer " + s.sign(t, with("aud", "bookinfo")), wantPrincipal: "testing@secure.istio.io/alice"},
		{name: "not a bearer", header: "Basic " + s.sign(t, good)},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://productpage:9080/productpage?"+c.query, nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			jwt, f := a.Authenticate(context.Background(), r)
			switch {
			case c.wantFail != "":
				if f == nil || f.Message != c.wantFail {
					t.Fatalf("got jwt=%+v failure=%v, want failure %q", jwt, f, c.wantFail)
				}
			case f != nil:
				t.Fatalf("unexpected failure %q (%v)", f.Message, f.Err)
			case c.wantPrincipal == "" && jwt != nil:
				t.Fatalf("got %+v for a request without a token", jwt)
			case c.wantPrincipal != "":
				if jwt == nil || jwt.Principal() != c.wantPrincipal {
					t.Fatalf("got %+v, want principal %q", jwt, c.wantPrincipal)
				}
				if r.Header.Get("Authorization") != "" {
					t.Error("the token was forwarded without forwardOriginalToken")
				}
				if c.header != "" && (r.Header.Get("X-Jwt-Group") != "admins" || r.Header.Get("X-Jwt-Level") != "3") {
					t.Errorf("claims to headers: group=%q level=%q", r.Header.Get("X-Jwt-Group"), r.Header.Get("X-Jwt-Level"))
				}
			}
		})
	}
}

func TestLocationsAndForwarding(t *testing.T) {
	s := newSigner(t, "k1")
	a, err := Compile([]*securityv1.RequestAuthentication{requestAuthn(t, inlineRule(s, `
    fromHeaders:
    - {name: x-jwt-assertion, prefix: "Token "}
    fromParams: [my_token]
    forwardOriginalToken: true
    outputPayloadToHeader: x-jwt-payload`))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := s.sign(t, map[string]any{"iss": "testing@secure.istio.io", "sub": "bob"})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Jwt-Assertion", "Token "+tok)
	jwt, f := a.Authenticate(context.Background(), r)
	if f != nil || jwt == nil || jwt.Subject != "bob" {
		t.Fatalf("from header: jwt=%+v failure=%v", jwt, f)
	}
	if r.Header.Get("X-Jwt-Assertion") == "" || r.Header.Get("X-Jwt-Payload") == "" {
		t.Fatalf("forwardOriginalToken/outputPayloadToHeader: %v", r.Header)
	}
	// The default locations are replaced: a bearer token is not looked at.
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer garbage")
	if jwt, f := a.Authenticate(context.Background(), r); jwt != nil || f != nil {
		t.Fatalf("Authorization header with fromHeaders set: jwt=%+v failure=%v", jwt, f)
	}
	r = httptest.NewRequest("GET", "/?my_token="+tok, nil)
	if jwt, f := a.Authenticate(context.Background(), r); f != nil || jwt == nil {
		t.Fatalf("from param: jwt=%+v failure=%v", jwt, f)
	}
}

// TestJwksURI fetches keys from a real HTTP server, caches them, and fails closed with a log
// line when the server cannot be reached.
func TestJwksURI(t *testing.T) {
	s := newSigner(t, "k1")
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(s.jwks))
	}))
	defer srv.Close()
	var logs bytes.Buffer
	keys := &Keys{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ra := func(uri string) []*securityv1.RequestAuthentication {
		return []*securityv1.RequestAuthentication{requestAuthn(t, `
metadata: {name: remote, namespace: foo}
spec:
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwksUri: "`+uri+`"`)}
	}
	a, err := Compile(ra(srv.URL+"/jwks.json"), keys)
	if err != nil {
		t.Fatal(err)
	}
	tok := s.sign(t, map[string]any{"iss": "testing@secure.istio.io", "sub": "carol"})
	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		if jwt, f := a.Authenticate(context.Background(), r); f != nil || jwt == nil || jwt.Subject != "carol" {
			t.Fatalf("jwt=%+v failure=%v", jwt, f)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("the JWKS was fetched %d times for 3 requests, want once (cached)", n)
	}

	// An address nothing listens on: the first request waits for the fetch, then gets 401.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/jwks.json"
	dead.Close()
	a, err = Compile(ra(deadURL), keys)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	_, f := a.Authenticate(context.Background(), r)
	if f == nil || f.Message != "Jwks remote fetch is failed" {
		t.Fatalf("unreachable JWKS: failure %v, want 401 Jwks remote fetch is failed", f)
	}
	if !strings.Contains(logs.String(), "JWKS fetch failed") || !strings.Contains(logs.String(), deadURL) {
		t.Fatalf("no clear log line naming the URI; log:\n%s", logs.String())
	}
	// Without a token the request still passes.
	if jwt, f := a.Authenticate(context.Background(), httptest.NewRequest("GET", "/", nil)); jwt != nil || f != nil {
		t.Fatalf("no token: jwt=%+v failure=%v", jwt, f)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct{ name, spec, want string }{
		{"no issuer", `{jwtRules: [{audiences: [a]}]}`, "spec.jwtRules[0].issuer: issuer or jwksUri is required"},
		{"bad uri", `{jwtRules: [{issuer: a, jwksUri: "ftp://x/keys"}]}`, "spec.jwtRules[0].jwksUri"},
		{"bad jwks", `{jwtRules: [{issuer: a, jwks: "{"}]}`, "spec.jwtRules[0].jwks: Jwks is an invalid JSON"},
		{"empty header name", `{jwtRules: [{issuer: a, fromHeaders: [{prefix: x}]}]}`, "spec.jwtRules[0].fromHeaders[0].name: required"},
		{"bad output header", `{jwtRules: [{issuer: a, outputClaimToHeaders: [{header: "a b", claim: sub}]}]}`, "outputClaimToHeaders[0].header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ra := requestAuthn(t, "metadata: {name: r, namespace: foo}\nspec: "+c.spec)
			errs := Validate(ra)
			if len(errs) == 0 || !strings.Contains(errs[0].Error(), c.want) {
				t.Fatalf("got %v, want %q", errs, c.want)
			}
		})
	}
}
