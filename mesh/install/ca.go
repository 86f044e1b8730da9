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
