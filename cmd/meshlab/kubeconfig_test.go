package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// nowhereKubeconfig writes a kubeconfig for a server nothing listens on (loopback port 1).
func nowhereKubeconfig(t *testing.T, path string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEveryKubeconfigCommandResolvesTheSameWay runs every command that talks to a cluster with
// nothing to find one by: each fails the same way, as bad input, naming every place it looked.
// Then the commands that know the lab (--hosts) take the lab's kubeconfig, and $KUBECONFIG
// over it.
func TestEveryKubeconfigCommandResolvesTheSameWay(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	hosts := filepath.Join(dir, "hosts.yaml")
	if err := os.WriteFile(hosts, []byte("name: kit\nhosts:\n  - root@127.0.0.1 control-plane\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "labs")
	labFile := filepath.Join(logDir, "kit", "kubeconfig")
	withLab := [][]string{
		{"addons", "install", "--hosts", hosts},
		{"addons", "uninstall", "--hosts", hosts},
		{"mesh", "iptables", "productpage", "--hosts", hosts},
	}
	noLab := [][]string{
		{"mesh", "install"},
		{"mesh", "uninstall"},
		{"mesh", "analyze"},
		{"mesh", "pilot", "--registry", "kubernetes"},
		{"mesh", "gateway", "--kube"},
		{"mesh", "gateway", "install"},
		{"mesh", "webhook", "--ca-dir", filepath.Join(dir, "ca"), "--native-sidecar", "auto"},
		{"bookinfo", "deploy"},
		{"bookinfo", "delete"},
		{"verify", "bookinfo"},
		{"addons", "install"},
		{"addons", "uninstall"},
	}
	tried := "no cluster to talk to: no --kubeconfig; $KUBECONFIG is not set; %s; " +
		filepath.Join(home, ".kube", "config") + " does not exist; not in a pod"
	for _, c := range []struct {
		cmds [][]string
		lab  string
	}{{noLab, "no lab"}, {withLab, "the lab's kubeconfig " + labFile + " does not exist (is the lab up?)"}} {
		want := strings.Replace(tried, "%s", c.lab, 1)
		for _, args := range c.cmds {
			_, _, err := runMeshlab(t, nil, append([]string{"--log-dir", logDir}, args...)...)
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
				t.Errorf("meshlab %s: %v\nwant a usage error saying %q", strings.Join(args, " "), err, want)
			}
		}
	}

	nowhereKubeconfig(t, labFile)
	env := nowhereKubeconfig(t, filepath.Join(dir, "env-kubeconfig"))
	for _, c := range []struct {
		env, using string
	}{
		{"", "using the lab's kubeconfig " + labFile + " (https://127.0.0.1:1)"},
		{env, "using kubeconfig " + env + " (from $KUBECONFIG) (https://127.0.0.1:1)"},
	} {
		t.Setenv("KUBECONFIG", c.env)
		for _, args := range withLab {
			_, stderr, err := runMeshlab(t, nil, append([]string{"--log-dir", logDir}, args...)...)
			if err == nil || !strings.Contains(stderr, c.using) {
				t.Errorf("meshlab %s: err %v, stderr:\n%s\nwant %q", strings.Join(args, " "), err, stderr, c.using)
			}
		}
	}
	// --kubeconfig wins over both, and a cluster the user named is not announced: scripts read
	// `mesh status` and the like with stderr mixed in.
	named := nowhereKubeconfig(t, filepath.Join(dir, "named"))
	for _, args := range withLab {
		_, stderr, err := runMeshlab(t, nil, append(append([]string{"--log-dir", logDir}, args...), "--kubeconfig", named)...)
		if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(stderr, "using ") {
			t.Errorf("meshlab %s --kubeconfig: err %v, stderr:\n%s", strings.Join(args, " "), err, stderr)
		}
	}
}
