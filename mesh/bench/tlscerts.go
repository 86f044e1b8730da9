package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// haproxyTLSFiles are the certificates HAProxy's mutual TLS uses in the benchmark: a root, the
// server side's certificate (with its key, as HAProxy's crt wants them in one file) and the
// client side's. They are the same kind as the sidecars' own (ECDSA P-256, a SPIFFE ID, client
// and server use), so both proxies do the same cryptography per handshake.
type haproxyTLSFiles struct {
	Root, Server, Client string
	ServerName           string // the server certificate's DNS name, which the client verifies
}

// writeHAProxyTLS makes the files in dir (readable by the proxies' user: it is a benchmark's
// temporary directory, never a real key).
func writeHAProxyTLS(dir string) (haproxyTLSFiles, error) {
	f := haproxyTLSFiles{Root: filepath.Join(dir, "tls-root.pem"), Server: filepath.Join(dir, "tls-server.pem"),
		Client: filepath.Join(dir, "tls-client.pem"), ServerName: "server.bench"}
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, err
	}
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return f, err
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return f, err
	}
	if err := os.WriteFile(f.Root, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}), 0o644); err != nil {
		return f, err
	}
	for i, leaf := range []struct {
		path, sa string
		dns      []string
	}{{f.Server, "server", []string{f.ServerName}}, {f.Client, "client", nil}} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return f, err
		}
		id, _ := url.Parse("spiffe://cluster.local/ns/default/sa/" + leaf.sa)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			DNSNames: leaf.dns, URIs: []*url.URL{id}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, root, &key.PublicKey, rootKey)
		if err != nil {
			return f, err
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return f, err
		}
		out := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})...)
		if err := os.WriteFile(leaf.path, out, 0o644); err != nil {
			return f, fmt.Errorf("write %s: %w", leaf.path, err)
		}
	}
	return f, nil
}

// haproxyTLSClientConfig is the client side: plain HTTP in from the app (captured), mutual TLS
// out to the server pod, verifying the server's certificate and presenting the client's.
func haproxyTLSClientConfig(listen, upstream string, f haproxyTLSFiles) string {
	return haproxyConfigWith(listen, "", fmt.Sprintf("ssl verify required ca-file %s crt %s verifyhost %s sni str(%s) alpn http/1.1",
		f.Root, f.Client, f.ServerName, f.ServerName), upstream)
}

// haproxyTLSServerConfig is the server side: mutual TLS in (a client certificate required and
// verified against the root), plain HTTP to the local app.
func haproxyTLSServerConfig(listen, upstream string, f haproxyTLSFiles) string {
	return haproxyConfigWith(listen, fmt.Sprintf("ssl crt %s ca-file %s verify required alpn http/1.1", f.Server, f.Root), "", upstream)
}
