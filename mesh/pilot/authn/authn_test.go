package authn

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// reviewer answers TokenReviews from a table of tokens, counting the calls.
func reviewer(t *testing.T, answers map[string]authenticationv1.TokenReviewStatus) (*TokenReviewer, *int) {
	t.Helper()
	cs := fake.NewClientset()
	calls := new(int)
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		*calls++
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
		if len(tr.Spec.Audiences) != 1 || tr.Spec.Audiences[0] != "meshlab-ca" {
			return true, nil, fmt.Errorf("review asked for audiences %v", tr.Spec.Audiences)
		}
		out := tr.DeepCopy()
		out.Status = answers[tr.Spec.Token]
		return true, out, nil
	})
	return NewTokenReviewer(cs, "meshlab-ca"), calls
}

func withToken(tok string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
}

func saUser(ns, sa, pod string) authenticationv1.UserInfo {
	u := authenticationv1.UserInfo{Username: "system:serviceaccount:" + ns + ":" + sa}
	if pod != "" {
		u.Extra = map[string]authenticationv1.ExtraValue{extraPodName: {pod}, extraPodUID: {"uid-" + pod}}
	}
	return u
}

func TestTokenReviewer(t *testing.T) {
	r, calls := reviewer(t, map[string]authenticationv1.TokenReviewStatus{
		"good":   {Authenticated: true, Audiences: []string{"meshlab-ca"}, User: saUser("bookinfo", "bookinfo-reviews", "reviews-v1-abc")},
		"wrong":  {Authenticated: true, Audiences: []string{"https://kubernetes.default.svc"}, User: saUser("bookinfo", "x", "")},
		"person": {Authenticated: true, Audiences: []string{"meshlab-ca"}, User: authenticationv1.UserInfo{Username: "alice"}},
		"bad":    {Authenticated: false, Error: "token has been invalidated"},
	})
	c, err := r.Authenticate(withToken("good"))
	if err != nil {
		t.Fatal(err)
	}
	want := Caller{Namespace: "bookinfo", ServiceAccount: "bookinfo-reviews", Pod: "reviews-v1-abc", PodUID: "uid-reviews-v1-abc"}
	if c != want {
		t.Errorf("caller %+v, want %+v", c, want)
	}
	if _, err := r.Authenticate(withToken("good")); err != nil || *calls != 1 {
		t.Errorf("second call: %v, %d reviews; want the cached answer", err, *calls)
	}
	for tok, want := range map[string]string{"wrong": "not \"meshlab-ca\"", "person": "not a ServiceAccount", "bad": "invalidated"} {
		_, err := r.Authenticate(withToken(tok))
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), want) {
			t.Errorf("token %q: %v, want Unauthenticated saying %q", tok, err, want)
		}
	}
	if _, err := r.Authenticate(context.Background()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v", err)
	}
}

// TestCacheEndsWithTheToken: a reviewed token is asked about again once it has expired, even
// within the cache period.
func TestCacheEndsWithTheToken(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	payload := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"exp":%d}`, now.Add(10*time.Second).Unix()))
	tok := "h." + payload + ".s"
	r, calls := reviewer(t, map[string]authenticationv1.TokenReviewStatus{
		tok: {Authenticated: true, Audiences: []string{"meshlab-ca"}, User: saUser("a", "b", "")},
	})
	r.now = func() time.Time { return now }
	if _, err := r.Review(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	r.now = func() time.Time { return now.Add(11 * time.Second) }
	if _, err := r.Review(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if *calls != 2 {
		t.Errorf("%d reviews; the expired token's cached answer was used", *calls)
	}
}
