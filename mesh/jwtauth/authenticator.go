package jwtauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/meshlab/meshlab/mesh/authz"
)

// clockSkew is how far exp and nbf may be off (Envoy's default clock_skew_seconds).
const clockSkew = 60 * time.Second

// algorithms are the signature algorithms a token may use (those Envoy's jwt_authn verifies).
var algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.HS256, jose.HS384, jose.HS512,
}

// Authenticator verifies the JWTs of one workload's requests, for the RequestAuthentications
// that select it. A nil Authenticator passes every request.
type Authenticator struct {
	rules []*rule
	keys  *Keys
	now   func() time.Time
}

type rule struct {
	name      string // namespace/name[index], for logs
	issuer    string
	audiences []string
	jwks      *jose.JSONWebKeySet // inline keys; nil with jwksUri
	jwksURI   string
	timeout   time.Duration
	locations []location
	forward   bool
	claimOut  []*v1beta1.ClaimToHeader
	payload   string // header for the base64url payload; "" = none
}

// location is where a token may be: a header with a value prefix, a query parameter or a cookie.
type location struct {
	header, prefix, param, cookie string
}

// defaultLocations are Envoy's when a rule names none.
var defaultLocations = []location{{header: "Authorization", prefix: "Bearer "}, {param: "access_token"}}

// Failure is a request refused with 401: Message is Envoy's text, which is also the body.
type Failure struct {
	Message string
	Rule    string // the jwtRule that refused, when one was found
	Err     error  // details for the log
}

func (f *Failure) Error() string { return f.Message }

// Compile builds the Authenticator for the RequestAuthentications that select a workload. keys
// fetches jwksUri sets (it may be nil when no rule has one). No rule at all gives nil.
func Compile(ras []*securityv1.RequestAuthentication, keys *Keys) (*Authenticator, error) {
	a := &Authenticator{keys: keys, now: time.Now}
	for _, ra := range ras {
		if errs := Validate(ra); len(errs) > 0 {
			return nil, fmt.Errorf("RequestAuthentication %s/%s: %w", ra.Namespace, ra.Name, errors.Join(errs...))
		}
		for i, jr := range ra.Spec.GetJwtRules() {
			r := &rule{
				name:      fmt.Sprintf("%s/%s[%d]", ra.Namespace, ra.Name, i),
				issuer:    jr.Issuer,
				audiences: jr.Audiences,
				jwksURI:   jr.JwksUri,
				timeout:   DefaultFetchTimeout,
				forward:   jr.ForwardOriginalToken,
				claimOut:  jr.OutputClaimToHeaders,
				payload:   jr.OutputPayloadToHeader,
			}
			if jr.Timeout != nil {
				r.timeout = jr.Timeout.AsDuration()
			}
			if jr.Jwks != "" {
				set, err := parseJWKS([]byte(jr.Jwks))
				if err != nil {
					return nil, fmt.Errorf("RequestAuthentication %s/%s: spec.jwtRules[%d].jwks: %w", ra.Namespace, ra.Name, i, err)
				}
				r.jwks, r.jwksURI = set, ""
			} else if keys == nil {
				return nil, fmt.Errorf("RequestAuthentication %s/%s: spec.jwtRules[%d].jwksUri: no key fetcher", ra.Namespace, ra.Name, i)
			} else {
				keys.Prefetch(jr.JwksUri)
			}
			for _, h := range jr.FromHeaders {
				r.locations = append(r.locations, location{header: h.Name, prefix: h.Prefix})
			}
			for _, q := range jr.FromParams {
				r.locations = append(r.locations, location{param: q})
			}
			for _, c := range jr.FromCookies {
				r.locations = append(r.locations, location{cookie: c})
			}
			if len(r.locations) == 0 {
				r.locations = defaultLocations
			}
			a.rules = append(a.rules, r)
		}
	}
	if len(a.rules) == 0 {
		return nil, nil
	}
	return a, nil
}

// token is one JWT found in a request, and where.
type token struct {
	raw string
	loc location
}

// Authenticate verifies r's tokens. No token: (nil, nil). A token that fails: a Failure (answer
// 401). Otherwise the first token's payload, after the rule's outputs are applied to r's headers
// (and the token removed unless forwardOriginalToken).
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (*authz.JWT, *Failure) {
	if a == nil {
		return nil, nil
	}
	toks := a.extract(r)
	if len(toks) == 0 {
		return nil, nil
	}
	var first *authz.JWT
	for _, t := range toks {
		jwt, ru, f := a.verify(ctx, t)
		if f != nil {
			return nil, f
		}
		ru.outputs(r, t, jwt)
		if first == nil {
			first = jwt.out
		}
	}
	return first, nil
}

// extract finds every distinct token in every rule's locations.
func (a *Authenticator) extract(r *http.Request) []token {
	var out []token
	seen := map[string]bool{}
	var query map[string][]string
	for _, ru := range a.rules {
		for _, l := range ru.locations {
			var v string
			switch {
			case l.header != "":
				h := r.Header.Get(l.header)
				if h == "" || !strings.HasPrefix(h, l.prefix) {
					continue
				}
				v = strings.TrimSpace(h[len(l.prefix):])
			case l.param != "":
				if query == nil {
					query = r.URL.Query()
				}
				v = firstOf(query[l.param])
			case l.cookie != "":
				if c, err := r.Cookie(l.cookie); err == nil {
					v = c.Value
				}
			}
			if v != "" && !seen[v] {
				seen[v] = true
				out = append(out, token{raw: v, loc: l})
			}
		}
	}
	return out
}

func firstOf(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// verified is a token that passed, with its payload.
type verified struct {
	out     *authz.JWT
	payload []byte
}

func (a *Authenticator) verify(ctx context.Context, t token) (*verified, *rule, *Failure) {
	if strings.Count(t.raw, ".") != 2 {
		return nil, nil, &Failure{Message: "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"}
	}
	jws, err := jose.ParseSignedCompact(t.raw, algorithms)
	if err != nil {
		return nil, nil, &Failure{Message: "Jwt verification fails", Err: err}
	}
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(jws.UnsafePayloadWithoutVerification())))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, nil, &Failure{Message: "Jwt payload is an invalid JSON", Err: err}
	}
	iss, _ := claims["iss"].(string)
	var ru *rule
	for _, c := range a.rules {
		if (c.issuer == "" || c.issuer == iss) && c.takes(t.loc) {
			ru = c
			break
		}
	}
	if ru == nil {
		return nil, nil, &Failure{Message: "Jwt issuer is not configured", Err: fmt.Errorf("issuer %q", iss)}
	}
	set := ru.jwks
	if set == nil {
		set, err = a.keys.Get(ctx, ru.jwksURI, ru.timeout)
		if err != nil {
			return nil, ru, &Failure{Message: err.Error(), Rule: ru.name, Err: fmt.Errorf("jwksUri %s has no keys yet", ru.jwksURI)}
		}
	}
	payload, f := verifySignature(jws, set)
	if f != nil {
		f.Rule = ru.name
		return nil, ru, f
	}
	now := a.now()
	if exp, ok := numClaim(claims["exp"]); ok && now.After(time.Unix(exp, 0).Add(clockSkew)) {
		return nil, ru, &Failure{Message: "Jwt is expired", Rule: ru.name}
	}
	if nbf, ok := numClaim(claims["nbf"]); ok && now.Add(clockSkew).Before(time.Unix(nbf, 0)) {
		return nil, ru, &Failure{Message: "Jwt not yet valid", Rule: ru.name}
	}
	if len(ru.audiences) > 0 && !audienceAllowed(claims["aud"], ru.audiences) {
		return nil, ru, &Failure{Message: "Audiences in Jwt are not allowed", Rule: ru.name}
	}
	sub, _ := claims["sub"].(string)
	return &verified{out: &authz.JWT{Issuer: iss, Subject: sub, Claims: plain(claims)}, payload: payload}, ru, nil
}

func (r *rule) takes(l location) bool {
	for _, m := range r.locations {
		if m == l {
			return true
		}
	}
	return false
}

func verifySignature(jws *jose.JSONWebSignature, set *jose.JSONWebKeySet) ([]byte, *Failure) {
	if len(jws.Signatures) != 1 {
		return nil, &Failure{Message: "Jwt verification fails", Err: errors.New("not exactly one signature")}
	}
	h := jws.Signatures[0].Header
	keys := set.Keys
	if h.KeyID != "" {
		keys = set.Key(h.KeyID)
		if len(keys) == 0 {
			return nil, &Failure{Message: "Jwks doesn't have key to match kid or alg from Jwt", Err: fmt.Errorf("kid %q", h.KeyID)}
		}
	}
	var last error
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		payload, err := jws.Verify(k.Key)
		if err == nil {
			return payload, nil
		}
		last = err
	}
	if last == nil {
		return nil, &Failure{Message: "Jwks doesn't have key to match kid or alg from Jwt", Err: fmt.Errorf("alg %q", h.Algorithm)}
	}
	return nil, &Failure{Message: "Jwt verification fails", Err: last}
}

func numClaim(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) {
		return 0, false
	}
	return int64(f), true
}

func audienceAllowed(aud any, allowed []string) bool {
	has := func(s string) bool {
		for _, a := range allowed {
			if a == s {
				return true
			}
		}
		return false
	}
	switch t := aud.(type) {
	case string:
		return has(t)
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && has(s) {
				return true
			}
		}
	}
	return false
}

// plain turns json.Numbers back into float64, as claims look after a plain decode.
func plain(v map[string]any) map[string]any {
	for k, x := range v {
		v[k] = plainValue(x)
	}
	return v
}

func plainValue(x any) any {
	switch t := x.(type) {
	case json.Number:
		f, _ := t.Float64()
		return f
	case map[string]any:
		return plain(t)
	case []any:
		for i := range t {
			t[i] = plainValue(t[i])
		}
	}
	return x
}

// outputs applies a verified token's rule to the request on its way to the application.
func (r *rule) outputs(req *http.Request, t token, v *verified) {
	if !r.forward && t.loc.header != "" {
		req.Header.Del(t.loc.header)
	}
	for _, o := range r.claimOut {
		if s, ok := claimString(v.out.Claims[o.Claim]); ok {
			req.Header.Set(o.Header, s)
		}
	}
	if r.payload != "" {
		req.Header.Set(r.payload, base64.RawURLEncoding.EncodeToString(v.payload))
	}
}

// claimString renders the claim types Envoy copies into headers: strings, numbers and booleans.
func claimString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 {
			return strconv.FormatInt(int64(t), 10), true
		}
		return strconv.FormatFloat(t, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(t), true
	}
	return "", false
}

// Select returns the RequestAuthentications that select w, as authz.Applies decides.
func Select(ras []*securityv1.RequestAuthentication, w authz.Workload, rootNamespace string) []*securityv1.RequestAuthentication {
	var out []*securityv1.RequestAuthentication
	for _, ra := range ras {
		if authz.Applies(ra.Namespace, ra.Spec.GetSelector().GetMatchLabels(), w, rootNamespace) {
			out = append(out, ra)
		}
	}
	return out
}

// WriteUnauthorized answers r with f as Envoy's jwt_authn does.
func WriteUnauthorized(w http.ResponseWriter, r *http.Request, f *Failure) {
	h := w.Header()
	h.Set("Www-Authenticate", `Bearer realm="http://`+r.Host+r.URL.Path+`", error="invalid_token"`)
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", strconv.Itoa(len(f.Message)))
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(f.Message))
}
