package install

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/mesh/ca"
)

// EnsureCA returns the webhook CA already installed (Secret meshlab-ca), or a new one. Reusing
// it keeps a reinstall from changing the caBundle under running webhook servers, which would make
// the apiserver refuse their certificates until they restart.
func EnsureCA(ctx context.Context, core kubernetes.Interface) (certPEM, keyPEM []byte, err error) {
	s, err := core.CoreV1().Secrets(Namespace).Get(ctx, CASecret, metav1.GetOptions{})
	switch {
	case err == nil:
		certPEM, keyPEM = s.Data[ca.CertFile], s.Data[ca.KeyFile]
		if _, err := ca.Load(certPEM, keyPEM, ca.Options{}); err != nil {
			return nil, nil, fmt.Errorf("install: Secret %s/%s holds no usable CA (delete it to make a new one): %w", Namespace, CASecret, err)
		}
		return certPEM, keyPEM, nil
	case !apierrors.IsNotFound(err):
		return nil, nil, fmt.Errorf("install: read Secret %s/%s: %w", Namespace, CASecret, err)
	}
	root, err := ca.New(ca.Options{CommonName: "meshlab webhook CA"})
	if err != nil {
		return nil, nil, fmt.Errorf("install: %w", err)
	}
	keyPEM, err = root.KeyPEM()
	if err != nil {
		return nil, nil, fmt.Errorf("install: %w", err)
	}
	return root.CertPEM(), keyPEM, nil
}

// Secrets of the mesh CA, in meshlab-system: the user's own CA in Istio's cacerts Secret (ca-cert.pem,
// ca-key.pem, cert-chain.pem, root-cert.pem), which the control plane prefers when present, and the
// root `mesh install` generates otherwise.
const (
	PluggedCASecret = "cacerts"
	MeshCASecret    = "meshlab-mesh-ca"
	PluggedCAMount  = "/etc/cacerts"
	MeshCAMount     = "/var/lib/meshlab/mesh-ca"
)

// EnsureMeshCA returns the mesh root already installed (Secret meshlab-mesh-ca), or a new one,
// so a reinstall never changes the root workloads trust. plugged reports a cacerts Secret, which
// the control plane uses instead; it must hold a usable CA, and the error says what is wrong
// with it when not.
func EnsureMeshCA(ctx context.Context, core kubernetes.Interface) (b ca.Bundle, plugged bool, err error) {
	secrets := core.CoreV1().Secrets(Namespace)
	s, err := secrets.Get(ctx, PluggedCASecret, metav1.GetOptions{})
	switch {
	case err == nil:
		if _, err := ca.LoadBundle(ca.BundleFrom(s.Data), ca.Options{}); err != nil {
			return ca.Bundle{}, false, fmt.Errorf("install: Secret %s/%s (your own mesh CA) is not usable: %w", Namespace, PluggedCASecret, err)
		}
		plugged = true
	case !apierrors.IsNotFound(err):
		return ca.Bundle{}, false, fmt.Errorf("install: read Secret %s/%s: %w", Namespace, PluggedCASecret, err)
	}
	s, err = secrets.Get(ctx, MeshCASecret, metav1.GetOptions{})
	switch {
	case err == nil:
		b = ca.BundleFrom(s.Data)
		if _, err := ca.LoadBundle(b, ca.Options{}); err != nil {
			return ca.Bundle{}, false, fmt.Errorf("install: Secret %s/%s holds no usable CA (delete it to make a new root; every workload certificate changes): %w", Namespace, MeshCASecret, err)
		}
		return b, plugged, nil
	case !apierrors.IsNotFound(err):
		return ca.Bundle{}, false, fmt.Errorf("install: read Secret %s/%s: %w", Namespace, MeshCASecret, err)
	}
	b, err = ca.NewBundle(ca.Options{})
	if err != nil {
		return ca.Bundle{}, false, fmt.Errorf("install: %w", err)
	}
	return b, plugged, nil
}
