// Package jwtauth is Istio's RequestAuthentication (security.istio.io/v1) as the meshlab sidecar
// enforces it: JWTs taken from the request (the Authorization bearer token and the access_token
// query parameter, or the rule's fromHeaders, fromParams and fromCookies), verified against the
// rule's issuer, audiences and keys (inline jwks, or jwksUri fetched and refreshed by Keys), with
// Envoy's jwt_authn answers: a request without a token passes (an AuthorizationPolicy may then
// require requestPrincipals), a request with a token that does not verify gets 401 with Envoy's
// message. A verified token gives the request principal <iss>/<sub> and its claims to
// mesh/authz, and may be forwarded or not (forwardOriginalToken) and copied into headers
// (outputClaimToHeaders, outputPayloadToHeader).
//
// JWS parsing and signature checks use github.com/go-jose/go-jose/v4. The package imports no
// control-plane code: the sidecar links it.
package jwtauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/net/http/httpguts"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
)

// Validate returns every problem of ra, each naming its field, by Istio's rules; what meshlab
// does not do (targetRefs) is refused rather than ignored.
func Validate(ra *securityv1.RequestAuthentication) []error {
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
	}
	s := &ra.Spec
	if s.GetTargetRef() != nil || len(s.GetTargetRefs()) > 0 {
		bad("spec.targetRefs", "targetRefs (Gateway API gateways and waypoints) are not supported by meshlab; select workloads with spec.selector")
	}
	for i, r := range s.GetJwtRules() {
		p := fmt.Sprintf("spec.jwtRules[%d]", i)
		if r == nil {
			bad(p, "must not be null")
			continue
		}
		if r.Issuer == "" && r.JwksUri == "" {
			bad(p+".issuer", "issuer or jwksUri is required")
		}
		for j, a := range r.Audiences {
			if a == "" {
				bad(fmt.Sprintf("%s.audiences[%d]", p, j), "must not be empty")
			}
		}
		if r.JwksUri != "" {
			if u, err := url.Parse(r.JwksUri); err != nil {
				bad(p+".jwksUri", "%v", err)
			} else if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
				bad(p+".jwksUri", "%q: want an http:// or https:// URL", r.JwksUri)
			}
		}
		if r.Jwks != "" {
			if _, err := parseJWKS([]byte(r.Jwks)); err != nil {
				bad(p+".jwks", "%v", err)
			}
		}
		for j, h := range r.FromHeaders {
			if h == nil || h.Name == "" {
				bad(fmt.Sprintf("%s.fromHeaders[%d].name", p, j), "required")
			}
		}
		for j, q := range r.FromParams {
			if q == "" {
				bad(fmt.Sprintf("%s.fromParams[%d]", p, j), "must not be empty")
			}
		}
		for j, c := range r.FromCookies {
			if c == "" {
				bad(fmt.Sprintf("%s.fromCookies[%d]", p, j), "must not be empty")
			}
		}
		for j, o := range r.OutputClaimToHeaders {
			op := fmt.Sprintf("%s.outputClaimToHeaders[%d]", p, j)
			switch {
			case o == nil || o.Header == "" || o.Claim == "":
				bad(op, "header and claim are required")
			case !httpguts.ValidHeaderFieldName(o.Header):
				bad(op+".header", "%q is not an HTTP header name", o.Header)
			}
		}
		if h := r.OutputPayloadToHeader; h != "" && !httpguts.ValidHeaderFieldName(h) {
			bad(p+".outputPayloadToHeader", "%q is not an HTTP header name", h)
		}
		if r.Timeout != nil && r.Timeout.AsDuration() <= 0 {
			bad(p+".timeout", "must be positive")
		}
	}
	return errs
}

// parseJWKS reads a JSON Web Key Set and keeps its public keys: a set with none verifies nothing.
func parseJWKS(data []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		//lint:ignore ST1005 Envoy's exact text
		return nil, fmt.Errorf("Jwks is an invalid JSON: %w", err)
	}
	out := &jose.JSONWebKeySet{}
	for _, k := range set.Keys {
		switch {
		case !k.Valid():
		case k.IsPublic():
			out.Keys = append(out.Keys, k)
		default:
			if _, symmetric := k.Key.([]byte); symmetric { // HMAC keys (HS256...) verify as they are
				out.Keys = append(out.Keys, k)
			} else if pub := k.Public(); pub.Valid() {
				out.Keys = append(out.Keys, pub) // a private key given by mistake: only its public half is used
			}
		}
	}
	if len(out.Keys) == 0 {
		//lint:ignore ST1005 Envoy's exact text
		return nil, errors.New("Jwks doesn't have any valid public key")
	}
	return out, nil
}
