package pilot

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"google.golang.org/grpc/codes"

	"github.com/meshlab/meshlab/internal/kubetest"
	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/crds"
	"github.com/meshlab/meshlab/mesh/pilot/authn"
	"github.com/meshlab/meshlab/mesh/pilot/kubereg"
	"github.com/meshlab/meshlab/mesh/pilot/server"
	"github.com/meshlab/meshlab/mesh/xds"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// TestKubernetesNodeIdentityFromTheToken runs the control plane against a real apiserver
// (Kubernetes registry, TokenReview): a sidecar with its pod's projected token that claims to
// be another workload is served as its own pod, and a token minted for the apiserver's
// audience opens no stream.
func TestKubernetesNodeIdentityFromTheToken(t *testing.T) {
	kc := kubetest.Start(t)
	kc.InstallCRDs(t, crds.All)
	cs := kc.Client(t)
	ctx := context.Background()
	const ns = "shop"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "frontend"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "frontend-1", Labels: map[string]string{"app": "frontend", "version": "v1"}},
		Spec:       corev1.PodSpec{ServiceAccountName: "frontend", Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.5", PodIPs: []corev1.PodIP{{IP: "10.0.0.5"}}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := func(audience string) string {
		exp := int64(3600)
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "frontend", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			Audiences: []string{audience}, ExpirationSeconds: &exp,
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}

	root, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := kubereg.New(kc.Config, kubereg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secureAddr, debugAddr := freeAddr(t), freeAddr(t)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(rctx, Options{SecureAddr: secureAddr, DebugAddr: debugAddr, CA: root, Registry: reg,
			Auth: authn.NewTokenReviewer(cs, xdsnames.TokenAudience), ServingNames: []string{"127.0.0.1"}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pilot: %v", err)
		}
	})

	conn, err := xds.Dial(secureAddr, root.RootPEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tokenPath := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenPath, []byte(token(xdsnames.TokenAudience)), 0o600); err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	cdone := make(chan struct{})
	go func() {
		defer close(cdone)
		_ = xds.Run(cctx, xds.Options{Addr: secureAddr, Conn: conn, TokenPath: tokenPath,
			Proxy: config.Proxy{ID: "payments-1.shop", Namespace: "shop", Workload: "payments"}, Apply: func(*config.Snapshot) error { return nil }})
	}()
	defer func() { ccancel(); <-cdone }()
	var st []server.ProxyStatus
	waitFor(t, 30*time.Second, "the proxy SYNCED", func() bool {
		st, _ = FetchStatus(ctx, debugAddr)
		return len(st) == 1 && st[0].State == server.StateSynced
	})
	if got := st[0]; got.ID != "frontend-1.shop" || got.Workload != "frontend-1" || got.IP != "10.0.0.5" ||
		got.Identity != "spiffe://cluster.local/ns/shop/sa/frontend" {
		t.Errorf("status %+v: want pod frontend-1.shop at 10.0.0.5 as spiffe://cluster.local/ns/shop/sa/frontend", got)
	}
	if code := adsRefusal(t, conn, token("https://kubernetes.default.svc.cluster.local")); code != codes.Unauthenticated {
		t.Errorf("a token for the apiserver's audience: %v, want Unauthenticated", code)
	}
}
