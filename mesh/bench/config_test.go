package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigsGolden pins the generated sidecar and HAProxy configurations.
func TestConfigsGolden(t *testing.T) {
	l, err := NewLab("b1", mustPrefix(t, "10.216.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"client-proxy.yaml":        meshlabProxyDoc("client-v1", "client", l, "client"),
		"registry.yaml":            meshlabRegistryDoc(l),
		"client-haproxy.cfg":       haproxyConfig(":15001", "10.216.0.11:8080"),
		"registry-mtls.yaml":       meshlabMTLSRegistryDoc(l),
		"registry-rules.yaml":      withDocs(meshlabRegistryDoc(l), []string{allowRulesDoc(clientByAddress(l))}),
		"registry-mtls-rules.yaml": withDocs(meshlabMTLSRegistryDoc(l), []string{allowRulesDoc(clientByIdentity)}),
		"client-haproxy-tls.cfg": haproxyTLSClientConfig(":15001", "10.216.0.11:8080",
			haproxyTLSFiles{Root: "/b/root.pem", Server: "/b/server.pem", Client: "/b/client.pem", ServerName: "server.bench"}),
		"server-haproxy-tls.cfg": haproxyTLSServerConfig(":15006", "127.0.0.1:8080",
			haproxyTLSFiles{Root: "/b/root.pem", Server: "/b/server.pem", Client: "/b/client.pem", ServerName: "server.bench"}),
	}
	for name, got := range files {
		golden := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s (rerun with -update if intended):\n%s", name, golden, got)
		}
	}
}

// TestLabLock: a second run of the same lab is refused while the first holds it, and allowed
// once the first is done.
func TestLabLock(t *testing.T) {
	name := fmt.Sprintf("t%d", os.Getpid()%1000)
	first, err := lockLab(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(first.Name()) })
	if second, err := lockLab(name); err == nil {
		second.Close()
		t.Fatal("a second lock of the same lab was granted")
	} else if !strings.Contains(err.Error(), "another benchmark is running it") {
		t.Fatalf("error %q does not say what is wrong", err)
	}
	first.Close()
	again, err := lockLab(name)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.Close()
}
