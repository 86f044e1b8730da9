// Package kubeconfig turns the admin kubeconfig kubeadm wrote on the control plane into the
// operator's copy: the server address the operator can reach, a context named after the lab,
// stored 0600 in the lab's state folder.
package kubeconfig

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
)

// Rewrite points every cluster of the kubeconfig at server and names the current context after
// the lab (so several labs' files merge without clashes).
func Rewrite(raw []byte, server, lab string) ([]byte, error) {
	return RewriteFor(raw, Target{Server: server}, lab)
}

// Target is where a kubeconfig sends its client.
type Target struct {
	Server string // https://host:port
	// TLSServerName is the name the API server's certificate is checked against when it differs
	// from Server's host (a port forwarded to 127.0.0.1); "" checks Server's host.
	TLSServerName string
}

// RewriteFor is Rewrite with the TLS server name too.
func RewriteFor(raw []byte, to Target, lab string) ([]byte, error) {
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("parse kubeconfig: %w", err)
	}
	if len(cfg.Clusters) == 0 {
		return nil, errors.New("kubeconfig has no cluster")
	}
	for _, c := range cfg.Clusters {
		c.Server = to.Server
		c.TLSServerName = to.TLSServerName
	}
	if lab != "" {
		if ctx, ok := cfg.Contexts[cfg.CurrentContext]; ok && cfg.CurrentContext != lab {
			delete(cfg.Contexts, cfg.CurrentContext)
			cfg.Contexts[lab] = ctx
			cfg.CurrentContext = lab
		}
	}
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig: %w", err)
	}
	return out, nil
}

// CAPool is the certificate authority the kubeconfig's (first) cluster trusts, to check that an
// address answers as that cluster's API server.
func CAPool(raw []byte) (*x509.CertPool, error) {
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("parse kubeconfig: %w", err)
	}
	for _, c := range cfg.Clusters {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(c.CertificateAuthorityData) {
			return nil, errors.New("kubeconfig: the cluster has no certificate-authority-data")
		}
		return pool, nil
	}
	return nil, errors.New("kubeconfig has no cluster")
}

// Server is the server of the kubeconfig's current context's cluster ("" when there is none).
func Server(raw []byte) string {
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return ""
	}
	if ctx, ok := cfg.Contexts[cfg.CurrentContext]; ok {
		if c, ok := cfg.Clusters[ctx.Cluster]; ok {
			return c.Server
		}
	}
	return ""
}

// Write stores data at path with mode 0600 (its folder 0700), atomically: a reader sees the old
// file or the new one, never half of one.
func Write(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kubeconfig-*")
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("kubeconfig: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return nil
}
