package install_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/meshlab/meshlab/internal/kube"
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
	kc, err := kube.NewClient(cluster.Config)
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
	dc, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	// An Istio already there: its VirtualService CRD (meshlab's, without the label) stops the
	// install before anything is applied.
	istio := crdWithoutLabel(t, objs, "virtualservices.networking.istio.io")
	if _, err := dc.Resource(crdGVR).Create(ctx, istio, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = install.CheckTakeover(ctx, kc, objs)
	if !errors.Is(err, install.ErrNotMeshlabs) || !strings.Contains(err.Error(), "CustomResourceDefinition virtualservices.networking.istio.io") {
		t.Fatalf("an unlabelled VirtualService CRD: %v", err)
	}
	t.Logf("takeover refused: %v", err)
	if err := dc.Resource(crdGVR).Delete(ctx, istio.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(ctx, t, dc, istio.GetName())

	var applied []kube.Applied
	for range 2 {
		if err := install.CheckTakeover(ctx, kc, objs); err != nil {
			t.Fatalf("meshlab's own objects: %v", err)
		}
		if applied, err = install.Apply(ctx, kc, objs); err != nil {
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

	// A CRD whose label someone removed (it is theirs now) survives --purge; the others go.
	const theirs = "destinationrules.networking.istio.io"
	patch := []byte(`{"metadata":{"labels":{"` + install.PartOfLabel + `":null}}}`)
	if _, err := dc.Resource(crdGVR).Patch(ctx, theirs, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	var kept []string
	if _, err := install.Uninstall(ctx, kc, objs, install.UninstallOptions{Purge: true, Kept: func(w string) { kept = append(kept, w) }}); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Resource(crdGVR).Get(ctx, theirs, metav1.GetOptions{}); err != nil || len(kept) != 1 {
		t.Fatalf("the unlabelled CRD %s after --purge: %v; kept %v", theirs, err, kept)
	}
	waitGone(ctx, t, dc, "virtualservices.networking.istio.io")
	if _, err := cs.AppsV1().Deployments(install.Namespace).Get(ctx, install.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("deployment still there after uninstall: %v", err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "meshlab-validation", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("validating webhook still registered after uninstall: %v", err)
	}
	// A second uninstall finds nothing and is not an error.
	if _, err := install.Uninstall(ctx, kc, objs, install.UninstallOptions{Purge: true}); err != nil {
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
			// The ServiceAccount admission plugin (off in kubetest) would name the default one
			// before the webhook runs; the injected token volume needs a ServiceAccount.
			Spec: corev1.PodSpec{ServiceAccountName: "default", Containers: []corev1.Container{{Name: "ratings", Image: "ratings:v1"}}}}
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

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdWithoutLabel is the rendered CRD of that name as another mesh would install it: no
// meshlab label.
func crdWithoutLabel(t *testing.T, objs []runtime.Object, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "CustomResourceDefinition" && u.GetName() == name {
			u.SetLabels(map[string]string{"app": "istio-pilot"})
			unstructured.RemoveNestedField(u.Object, "status")
			unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
			return u
		}
	}
	t.Fatalf("no CRD %s rendered", name)
	return nil
}

// waitGone waits until a deleted CRD is gone (CRD deletion finalises asynchronously).
func waitGone(ctx context.Context, t *testing.T, dc dynamic.Interface, name string) {
	t.Helper()
	for {
		if _, err := dc.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("CRD %s not gone: %v", name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestEveryObjectCarriesTheLabel: uninstall deletes only labelled objects, so an object Render
// made without the label could never be uninstalled.
func TestEveryObjectCarriesTheLabel(t *testing.T) {
	objs, err := install.Render(install.Options{Image: "x:y", CACertPEM: []byte("-"), CAKeyPEM: []byte("-"),
		MeshCA: ca.Bundle{CACert: []byte("-"), CAKey: []byte("-"), RootCert: []byte("-")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		m, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		u := &unstructured.Unstructured{Object: m}
		if u.GetLabels()[install.PartOfLabel] != install.PartOfValue {
			t.Errorf("%s %s lacks %s=%s", u.GetKind(), u.GetName(), install.PartOfLabel, install.PartOfValue)
		}
	}
}
