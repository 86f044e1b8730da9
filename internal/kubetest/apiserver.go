// Package kubetest starts a real etcd and kube-apiserver on loopback for integration tests: no
// controller manager, no scheduler, no kubelet. Tests create Services, EndpointSlices and Pods
// directly, which is all a control plane's registry and admission webhooks need to see.
package kubetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Cluster is a running etcd + kube-apiserver pair.
type Cluster struct {
	Config *rest.Config // as a member of system:masters (token auth)
	CA     *CA          // signed the apiserver's serving certificate; use it for webhook servers
	dir    string
}

// Client is a typed clientset for the cluster.
func (c *Cluster) Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatalf("kubetest: clientset: %v", err)
	}
	return cs
}

// BuildHint is the command that produces a kube-apiserver where Start looks for one.
const BuildHint = "make bundle (tools/k8sbuild/build.sh), or set MESHLAB_KUBE_APISERVER to a kube-apiserver binary"

// Start runs etcd and kube-apiserver for the test and stops them (by PID) at cleanup. It skips
// the test, saying why and how to fix it, when it is not root-capable or a binary is missing.
func Start(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("kubetest: starts etcd and kube-apiserver; skipped with -short")
	}
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("kubetest: needs etcd: apt-get install -y etcd-server")
	}
	apiserver := FindAPIServer()
	if apiserver == "" {
		t.Skip("kubetest: needs a kube-apiserver binary: " + BuildHint)
	}
	dir := t.TempDir()
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	etcdURL := startEtcd(t, etcd, dir)
	c := &Cluster{CA: ca, dir: dir}
	c.Config = startAPIServer(t, apiserver, dir, ca, etcdURL)
	return c
}

// FindAPIServer looks in $MESHLAB_KUBE_APISERVER, then H7's bundle build cache (newest first),
// then $PATH.
func FindAPIServer() string {
	if p := os.Getenv("MESHLAB_KUBE_APISERVER"); p != "" {
		return p
	}
	roots := []string{"/var/cache/meshlab/bundle"}
	if c := os.Getenv("MESHLAB_CACHE"); c != "" {
		roots = append([]string{filepath.Join(c, "bundle")}, roots...)
	}
	for _, root := range roots {
		found, _ := filepath.Glob(filepath.Join(root, "*", "build", "kubernetes", "kube-apiserver"))
		sort.Slice(found, func(i, j int) bool { return modTime(found[i]).After(modTime(found[j])) })
		for _, f := range found {
			if st, err := os.Stat(f); err == nil && st.Mode()&0o111 != 0 {
				return f
			}
		}
	}
	if p, err := exec.LookPath("kube-apiserver"); err == nil {
		return p
	}
	return ""
}

func modTime(p string) time.Time {
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

func startEtcd(t testing.TB, bin, dir string) string {
	t.Helper()
	client, peer := freePort(t), freePort(t)
	clientURL := "http://127.0.0.1:" + strconv.Itoa(client)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
	start(t, dir, "etcd", bin,
		"--name=kubetest",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--unsafe-no-fsync", // test data; fsync only slows the shared disk
	)
	return clientURL
}

func startAPIServer(t testing.TB, bin, dir string, ca *CA, etcdURL string) *rest.Config {
	t.Helper()
	certFile, keyFile, err := ca.writeServing(dir, "kube-apiserver")
	if err != nil {
		t.Fatal(err)
	}
	saKey := filepath.Join(dir, "sa.key")
	if err := writeKey(saKey); err != nil {
		t.Fatal(err)
	}
	token := "kubetest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	tokenFile := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(token+`,kubetest-admin,kubetest-admin,"system:masters"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	start(t, dir, "kube-apiserver", bin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+certFile, "--tls-private-key-file="+keyFile,
		"--token-auth-file="+tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-key-file="+saKey, "--service-account-signing-key-file="+saKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		// No controller manager creates the "default" ServiceAccount; pods are created directly.
		"--disable-admission-plugins=ServiceAccount",
	)
	cfg := &rest.Config{
		Host:            "https://127.0.0.1:" + strconv.Itoa(port),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM},
		QPS:             200,
		Burst:           400,
	}
	waitReady(t, cfg, dir)
	return cfg
}

// waitReady polls /readyz until the apiserver says it is ready (its post-start hooks, such as
// the bootstrap RBAC roles, have run) or a minute has passed.
func waitReady(t testing.TB, cfg *rest.Config, dir string) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("kubetest: clientset: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var last error
	for {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("kubetest: kube-apiserver not ready after 90s: %v\n%s", last, tail(filepath.Join(dir, "kube-apiserver.log")))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// start runs bin with its output in dir/name.log and stops it at cleanup.
func start(t testing.TB, dir, name, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("kubetest: start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			t.Logf("kubetest: last lines of %s:\n%s", name, tail(logPath))
		}
	})
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kubetest: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
