package trustpub

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshlab/meshlab/internal/kubetest"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// runPublisherTest drives a Publisher against cs: every namespace gets the root, a new
// namespace too, and a ConfigMap edited by hand is put back.
func runPublisherTest(t *testing.T, cs kubernetes.Interface) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ns := range []string{"frontend", "bookinfo"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	root := "-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n"
	done := make(chan error, 1)
	go func() { done <- (&Publisher{Client: cs, RootPEM: []byte(root)}).Run(ctx) }()
	defer func() { cancel(); <-done }()
	has := func(ns string) bool {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, xdsnames.RootCertConfigMap, metav1.GetOptions{})
		return err == nil && cm.Data[xdsnames.RootCertKey] == root
	}
	waitFor(t, "the root in every namespace", func() bool { return has("frontend") && has("bookinfo") })
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the root in a new namespace", func() bool { return has("shop") })
	cm, err := cs.CoreV1().ConfigMaps("bookinfo").Get(ctx, xdsnames.RootCertConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data[xdsnames.RootCertKey] = "tampered"
	if _, err := cs.CoreV1().ConfigMaps("bookinfo").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the edited root put back", func() bool { return has("bookinfo") })
}

func TestPublisherWithFakeClient(t *testing.T) {
	runPublisherTest(t, fake.NewClientset())
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPublisherWithRealAPIServer(t *testing.T) {
	runPublisherTest(t, kubetest.Start(t).Client(t))
}
