// Package authn tells the control plane who is calling: a sidecar proves its identity with the
// projected ServiceAccount token of its pod, sent as a bearer token on the gRPC call, and the
// control plane asks the apiserver (TokenReview) whether the token is valid, for meshlab's own
// audience, and which ServiceAccount and pod it was issued to. The CA then signs only that
// ServiceAccount's SPIFFE ID, and the xDS server takes the pod's namespace, labels and address
// from the pod the token is bound to, never from what the proxy claims.
package authn

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Caller is an authenticated workload.
type Caller struct {
	Namespace      string
	ServiceAccount string
	// Pod and PodUID name the pod the token is bound to (a projected token always is); empty for
	// a token that is not bound to a pod.
	Pod, PodUID string
}

// Authenticator authenticates the caller of a gRPC call from the call's context.
type Authenticator interface {
	Authenticate(ctx context.Context) (Caller, error)
}

// The extra fields the apiserver reports for a token bound to a pod.
const (
	extraPodName = "authentication.kubernetes.io/pod-name"
	extraPodUID  = "authentication.kubernetes.io/pod-uid"
	saPrefix     = "system:serviceaccount:"
)

// cacheFor bounds how long a reviewed token is trusted without asking again: long enough that a
// thousand sidecars reconnecting at once cost one review each, short enough that a deleted pod's
// token stops working within a minute.
const cacheFor = time.Minute

// TokenReviewer authenticates bearer tokens with the apiserver's TokenReview API.
type TokenReviewer struct {
	client   kubernetes.Interface
	audience string
	now      func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	caller Caller
	until  time.Time
}

// NewTokenReviewer reviews tokens for audience with client, whose identity needs permission to
// create tokenreviews.
func NewTokenReviewer(client kubernetes.Interface, audience string) *TokenReviewer {
	return &TokenReviewer{client: client, audience: audience, now: time.Now, cache: map[[32]byte]cached{}}
}

// Authenticate implements Authenticator. Errors are gRPC statuses: Unauthenticated for a missing
// or refused token, Unavailable when the apiserver could not be asked.
func (r *TokenReviewer) Authenticate(ctx context.Context) (Caller, error) {
	token, err := BearerToken(ctx)
	if err != nil {
		return Caller{}, err
	}
	return r.Review(ctx, token)
}

// Review authenticates one token.
func (r *TokenReviewer) Review(ctx context.Context, token string) (Caller, error) {
	key := sha256.Sum256([]byte(token))
	now := r.now()
	r.mu.Lock()
	if c, ok := r.cache[key]; ok && now.Before(c.until) {
		r.mu.Unlock()
		return c.caller, nil
	}
	r.mu.Unlock()
	tr, err := r.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{r.audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return Caller{}, status.Errorf(codes.Unavailable, "authn: asking the apiserver to review the token: %v", err)
	}
	st := tr.Status
	if !st.Authenticated {
		why := st.Error
		if why == "" {
			why = "not authenticated"
		}
		return Caller{}, status.Errorf(codes.Unauthenticated, "authn: the apiserver refused the token (is it the pod's projected token for audience %q?): %s", r.audience, why)
	}
	if !slices.Contains(st.Audiences, r.audience) {
		return Caller{}, status.Errorf(codes.Unauthenticated, "authn: the token is for audiences %v, not %q", st.Audiences, r.audience)
	}
	c, err := callerOf(st.User)
	if err != nil {
		return Caller{}, status.Error(codes.Unauthenticated, err.Error())
	}
	until := now.Add(cacheFor)
	if exp, ok := expiry(token); ok && exp.Before(until) {
		until = exp
	}
	r.mu.Lock()
	for k, v := range r.cache { // keep the cache as small as the set of live tokens
		if !now.Before(v.until) {
			delete(r.cache, k)
		}
	}
	r.cache[key] = cached{caller: c, until: until}
	r.mu.Unlock()
	return c, nil
}

// callerOf reads a ServiceAccount user: system:serviceaccount:NS:SA, with the pod of a bound token.
func callerOf(u authenticationv1.UserInfo) (Caller, error) {
	rest, ok := strings.CutPrefix(u.Username, saPrefix)
	ns, sa, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ns == "" || sa == "" {
		return Caller{}, fmt.Errorf("authn: %q is not a ServiceAccount; only workloads get mesh certificates", u.Username)
	}
	c := Caller{Namespace: ns, ServiceAccount: sa}
	if v := u.Extra[extraPodName]; len(v) == 1 {
		c.Pod = v[0]
	}
	if v := u.Extra[extraPodUID]; len(v) == 1 {
		c.PodUID = v[0]
	}
	return c, nil
}

// expiry reads a JWT's exp claim without checking anything else (the apiserver did): a cached
// review must not outlive its token.
func expiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return time.Time{}, false
	}
	return time.Unix(claims.Exp, 0), true
}

// ErrNoToken is a call without a bearer token.
var ErrNoToken = status.Error(codes.Unauthenticated, "authn: no bearer token: a sidecar sends its pod's projected ServiceAccount token in the authorization metadata")

// BearerToken reads "authorization: Bearer TOKEN" from a gRPC call's incoming metadata.
func BearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok && t != "" {
			return t, nil
		}
	}
	return "", ErrNoToken
}

// IsUnauthenticated reports whether err is an authentication refusal (as opposed to the
// apiserver being unreachable).
func IsUnauthenticated(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	return errors.As(err, &se) && se.GRPCStatus().Code() == codes.Unauthenticated
}
