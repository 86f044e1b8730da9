package install_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/meshlab/meshlab/internal/kubetest"
	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/inject"
	"github.com/meshlab/meshlab/mesh/install"
)

// TestInstallAndUninstallAgainstRealAPIServer applies the install twice (server-side apply must
// converge), checks the CA survives a reinstall, and uninstalls.
func TestInstallAndUninstallAgainstRealAPIServer(t *testing.T) {
	cluster := kubetest.Start(t)
	cs := cluster.Client(t)
	dc, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cert, key, err := install.EnsureCA(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	meshCA, plugged, err := install.EnsureMeshCA(ctx, cs)
	if err != nil || plugged {
		t.Fatalf("mesh CA: plugged %v, %v", plugged, err)
	}
	objs, err := install.Render(install.Options{Image: "meshlab.local/meshlab:test", CACertPEM: cert, CAKeyPEM: key, MeshCA: meshCA})
	if err != nil {
		t.Fatal(err)
	}
	var applied []string
	for range 2 {
		applied = nil
		if err := install.Apply(ctx, dc, objs, func(w string) { applied = append(applied, w) }); err != nil {
			t.Fatal(err)
		}
	}
	if len(applied) != len(objs) {
		t.Fatalf("applied %d of %d objects: %v", len(applied), len(objs), applied)
	}
	dep, err := cs.AppsV1().Deployments(install.Namespace).Get(ctx, install.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "meshlab.local/meshlab:test" {
		t.Fatalf("deployment image %q", img)
	}
	mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "meshlab-sidecar-injector", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mwc.Webhooks[0].ClientConfig.CABundle, cert) {
		t.Fatal("the mutating webhook's caBundle is not the installed CA")
	}
	again, _, err := install.EnsureCA(ctx, cs)
	if err != nil || !bytes.Equal(again, cert) {
		t.Fatalf("reinstall would change the CA (err %v)", err)
	}
	meshAgain, _, err := install.EnsureMeshCA(ctx, cs)
	if err != nil || !bytes.Equal(meshAgain.RootCert, meshCA.RootCert) {
		t.Fatalf("reinstall would change the mesh root (err %v)", err)
	}
	// What the control plane does with its ServiceAccount: review tokens, publish the root.
	for _, ra := range []authorizationv1.ResourceAttributes{
		{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create"},
		{Namespace: "bookinfo", Resource: "configmaps", Verb: "create"},
		{Namespace: "bookinfo", Resource: "configmaps", Verb: "update"},
		{Group: "security.istio.io", Resource: "peerauthentications", Verb: "watch"},
	} {
		sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:" + install.Namespace + ":" + install.Name, ResourceAttributes: &ra,
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !sar.Status.Allowed {
			t.Errorf("the control plane may not %s %s: %s", ra.Verb, ra.Resource, sar.Status.Reason)
		}
	}
	// A user's own CA in the cacerts Secret is taken, and a broken one refused with the reason.
	plug, err := ca.NewBundle(ca.Options{CommonName: "user root"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets(install.Namespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: install.PluggedCASecret},
		Data: plug.Files()}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, plugged, err := install.EnsureMeshCA(ctx, cs); err != nil || !plugged {
		t.Errorf("a cacerts Secret: plugged %v, %v", plugged, err)
	}
	broken := plug.Files()
	broken[ca.BundleCAKey] = meshCA.CAKey
	if _, err := cs.CoreV1().Secrets(install.Namespace).Update(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: install.PluggedCASecret},
		Data: broken}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := install.EnsureMeshCA(ctx, cs); err == nil {
		t.Error("a cacerts Secret whose key is another CA's was accepted")
	}
	_ = cs.CoreV1().Secrets(install.Namespace).Delete(ctx, install.PluggedCASecret, metav1.DeleteOptions{})

	if err := install.Uninstall(ctx, dc, objs, install.UninstallOptions{Purge: true}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(install.Namespace).Get(ctx, install.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("deployment still there after uninstall: %v", err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "meshlab-validation", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("validating webhook still registered after uninstall: %v", err)
	}
	// A second uninstall finds nothing and is not an error.
	if err := install.Uninstall(ctx, dc, objs, install.UninstallOptions{Purge: true}, nil); err != nil {
		t.Fatalf("second uninstall: %v", err)
	}
}

// TestInjectionWebhookThroughRealAPIServer registers mesh/inject's webhook (served from this
// process over TLS on loopback) with a URL clientConfig and creates pods: the stored pod in a
// labelled namespace has the sidecar, one elsewhere does not.
func TestInjectionWebhookThroughRealAPIServer(t *testing.T) {
	cluster := kubetest.Start(t)
	cs := cluster.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cert, err := cluster.CA.Serving("injector")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- inject.Serve(srvCtx, ln, cert, inject.NewWebhook(inject.DefaultOptions("test"), nil), testLogger(t))
	}()
	t.Cleanup(func() { stop(); <-served })
	mwc, err := inject.MutatingWebhookConfiguration(inject.WebhookConfig{
		URL: "https://" + ln.Addr().String() + inject.WebhookPath, CABundle: cluster.CA.CertPEM,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Labels: map[string]string{inject.NamespaceLabel: inject.NamespaceEnabled}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
	} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(ns, name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "ratings"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ratings", Image: "ratings:v1"}}}}
	}
	// The apiserver learns of the webhook registration from its informer: retry with fresh
	// pod names until a pod comes back injected.
	var injected *corev1.Pod
	for i := 0; injected == nil; i++ {
		p, err := cs.CoreV1().Pods("mesh").Create(ctx, pod("mesh", fmt.Sprintf("ratings-%d", i)), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod in injected namespace: %v", err)
		}
		if hasContainer(p, inject.ProxyContainerName) {
			injected = p
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("pods in the labelled namespace were never injected")
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !hasContainer(injected, inject.InitContainerName) {
		t.Fatalf("injected pod lacks the init container: %+v", injected.Spec.InitContainers)
	}
	plain, err := cs.CoreV1().Pods("plain").Create(ctx, pod("plain", "ratings"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hasContainer(plain, inject.ProxyContainerName) {
		t.Fatal("a pod in an unlabelled namespace was injected")
	}
}

func hasContainer(p *corev1.Pod, name string) bool {
	for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		if c.Name == name {
			return true
		}
	}
	return false
}
