package caservice

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshlab/meshlab/internal/kubetest"
	"github.com/meshlab/meshlab/mesh/identity"
	"github.com/meshlab/meshlab/mesh/pilot/authn"
	"github.com/meshlab/meshlab/mesh/spiffe"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// podWithToken creates ServiceAccount sa and a pod running as it, and writes the pod's projected
// token for audience (as the kubelet would) to a file.
func podWithToken(t *testing.T, cs kubernetes.Interface, ns, sa, pod, audience string) (string, *corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil && !isExists(err) {
		t.Fatal(err)
	}
	p, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: pod},
		Spec:       corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tokenFile(t, cs, ns, sa, p, audience), p
}

func tokenFile(t *testing.T, cs kubernetes.Interface, ns, sa string, p *corev1.Pod, audience string) string {
	t.Helper()
	exp := int64(xdsnames.TokenExpirySeconds)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{audience}, ExpirationSeconds: &exp,
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(tr.Status.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func isExists(err error) bool {
	var se interface{ Status() metav1.Status }
	return errors.As(err, &se) && se.Status().Reason == metav1.StatusReasonAlreadyExists
}

// TestTokenReviewAgainstARealAPIServer proves the CA's authentication with the apiserver's own
// TokenReview: a pod's projected token gets that ServiceAccount's certificate and no other, and
// tokens for another audience or of a deleted pod get nothing.
func TestTokenReviewAgainstARealAPIServer(t *testing.T) {
	kc := kubetest.Start(t)
	cs := kc.Client(t)
	ctx := context.Background()
	const ns = "shop"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reviewer := authn.NewTokenReviewer(cs, xdsnames.TokenAudience)
	conn, _ := serve(t, Options{Auth: reviewer})
	frontend := spiffe.ID{TrustDomain: "cluster.local", Namespace: ns, ServiceAccount: "frontend"}
	payments := spiffe.ID{TrustDomain: "cluster.local", Namespace: ns, ServiceAccount: "payments"}
	frontendToken, frontendPod := podWithToken(t, cs, ns, "frontend", "frontend-1", xdsnames.TokenAudience)
	_, _ = podWithToken(t, cs, ns, "payments", "payments-1", xdsnames.TokenAudience)

	t.Run("own identity", func(t *testing.T) {
		b, err := fetchOnce(t, identity.Options{Conn: conn, ID: frontend, TokenPath: frontendToken})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := spiffe.FromCertificate(b.Certificate.Leaf); got != frontend {
			t.Errorf("certified %s, want %s", got, frontend)
		}
		c, err := reviewer.Review(ctx, mustRead(t, frontendToken))
		if err != nil || c.Pod != "frontend-1" || c.PodUID != string(frontendPod.UID) {
			t.Errorf("the review does not name the pod the token is bound to: %+v, %v", c, err)
		}
	})
	t.Run("stolen token for another ServiceAccount", func(t *testing.T) {
		_, err := fetchOnce(t, identity.Options{Conn: conn, ID: payments, TokenPath: frontendToken})
		if status.Code(errors.Unwrap(err)) != codes.PermissionDenied {
			t.Errorf("frontend's token asking for payments' certificate: %v, want PermissionDenied", err)
		}
	})
	t.Run("token for another audience", func(t *testing.T) {
		apiToken := tokenFile(t, cs, ns, "frontend", frontendPod, "https://kubernetes.default.svc.cluster.local")
		_, err := fetchOnce(t, identity.Options{Conn: conn, ID: frontend, TokenPath: apiToken})
		if status.Code(errors.Unwrap(err)) != codes.Unauthenticated {
			t.Errorf("a token for the apiserver's audience: %v, want Unauthenticated", err)
		}
	})
	t.Run("no token", func(t *testing.T) {
		_, err := fetchOnce(t, identity.Options{Conn: conn, ID: frontend})
		if status.Code(errors.Unwrap(err)) != codes.Unauthenticated {
			t.Errorf("no token: %v, want Unauthenticated", err)
		}
	})
	t.Run("token of a deleted pod", func(t *testing.T) {
		tok, p := podWithToken(t, cs, ns, "frontend", "frontend-gone", xdsnames.TokenAudience)
		if err := cs.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := authn.NewTokenReviewer(cs, xdsnames.TokenAudience).Review(ctx, mustRead(t, tok))
			if status.Code(err) == codes.Unauthenticated {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the token of a deleted pod still reviews: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
