package kubeconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/internal/kube"
	"k8s.io/client-go/tools/clientcmd"
)

const admin = `apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: Zm9v
    server: https://10.77.0.2:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
users:
- name: kubernetes-admin
  user:
    client-certificate-data: YmFy
    client-key-data: YmF6
`

func TestRewriteAndWrite(t *testing.T) {
	out, err := Rewrite([]byte(admin), "https://192.0.2.7:6443", "demo")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Clusters["kubernetes"].Server; s != "https://192.0.2.7:6443" {
		t.Errorf("server = %s", s)
	}
	if cfg.CurrentContext != "demo" || cfg.Contexts["demo"] == nil {
		t.Errorf("context not renamed: %q", cfg.CurrentContext)
	}
	p := filepath.Join(t.TempDir(), "lab", "kubeconfig")
	if err := Write(p, out); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, %v; want 0600", st.Mode(), err)
	}
	if d, _ := os.Stat(filepath.Dir(p)); d.Mode().Perm() != 0o700 {
		t.Errorf("folder mode = %v, want 0700", d.Mode().Perm())
	}
	if _, err := kube.Load(kube.LoadOptions{Kubeconfig: p}); err != nil {
		t.Error(err)
	}
	if _, err := Rewrite([]byte("clusters: ["), "x", "y"); err == nil || !strings.Contains(err.Error(), "parse") {
		t.Errorf("garbage: %v", err)
	}
}

func TestRewriteForATunnel(t *testing.T) {
	out, err := RewriteFor([]byte(admin), Target{Server: "https://127.0.0.1:41234", TLSServerName: "kubernetes"}, "demo")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Clusters["kubernetes"]; c.Server != "https://127.0.0.1:41234" || c.TLSServerName != "kubernetes" {
		t.Errorf("cluster = %+v", c)
	}
	if Server(out) != "https://127.0.0.1:41234" || Server([]byte("nope")) != "" {
		t.Errorf("Server = %q", Server(out))
	}
	if _, err := CAPool([]byte(admin)); err == nil {
		t.Error("Zm9v is no certificate: want an error")
	}
}
