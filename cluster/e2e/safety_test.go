package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/cluster/phases"
	"github.com/meshlab/meshlab/provision/event"
)

// tokenPatterns are what a leaked kubeadm join token looks like: the token itself, or a flag
// that carries one with anything but the redactor's mark after it.
var tokenPatterns = []*regexp.Regexp{
	regexp.MustCompile(`\b[a-z0-9]{6}\.[a-z0-9]{16}\b`),
	regexp.MustCompile(`--(token|discovery-token|tls-bootstrap-token|certificate-key)[= ]+[^\s\[]`),
}

// checkNoTokens greps every text file under the test's --log-dir (the lab's state, logs and
// kubeconfig, the local lab's files) and every event of the runs for a join token, and asks the
// cluster for bootstrap tokens: after a full up none may be left anywhere.
func checkNoTokens(t *testing.T, ctx context.Context, c *cli, cs kubernetes.Interface, runs ...[]event.Event) {
	t.Helper()
	scanned, hits := 0, 0
	check := func(where, text string) {
		for _, re := range tokenPatterns {
			for _, m := range re.FindAllString(text, 3) {
				hits++
				t.Errorf("%s: token pattern %q found: %q", where, re, m)
			}
		}
	}
	// meshlab's own files: the lab's folder (state, logs, kubeconfig) and the local lab's (hosts
	// file, keys, state), not the machines' root filesystems (Debian's package lists are full
	// of names like jquery.fixedtableheader).
	machines := filepath.Join(c.lab.Dir, "machines")
	err := filepath.WalkDir(c.base, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p == machines {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil || info.Size() > 64<<20 {
			return err // image tarballs and machine layers are not logs
		}
		b, err := os.ReadFile(p)
		if err != nil || !utf8.Valid(b) {
			return nil // binaries: the lab's machine image, the meshlab binary
		}
		scanned++
		check(p, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, events := range runs {
		for _, e := range events {
			b, _ := json.Marshal(e)
			check(fmt.Sprintf("event stream of run %d", i+1), string(b))
		}
	}
	list, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{FieldSelector: "type=bootstrap.kubernetes.io/token"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		t.Errorf("bootstrap token %s is still in the cluster (%s)", s.Name, s.Data["description"])
	}
	t.Logf("token grep: %d text files under %s and %d event streams scanned, %d hits; %d bootstrap tokens in the cluster",
		scanned, c.base, len(runs), hits, len(list.Items))
}

// checkNoEscape runs a privileged pod with the node's PID and network namespaces on a worker and
// lets it try the ways onto the host (cluster/e2e/probe escape.go): the host's service on the
// bridge address, a marker file on the host's /, the host's disks, /dev/mem, open_by_handle_at,
// a kernel module, the cgroup release_agent. Every attempt must fail; the test shows each.
func checkNoEscape(t *testing.T, ctx context.Context, c *cli, cs kubernetes.Interface, node string) {
	t.Helper()
	prefix, err := netip.ParsePrefix(c.lab.Subnet)
	if err != nil {
		t.Fatal(err)
	}
	bridge := prefix.Masked().Addr().Next() // the host's address on the lab's bridge
	ln, err := net.Listen("tcp", net.JoinHostPort(bridge.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan string, 4)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- conn.RemoteAddr().String()
			conn.Close()
		}
	}()
	marker, err := os.CreateTemp("/", ".meshlab-e2e-host-marker-")
	if err != nil {
		t.Fatal(err)
	}
	marker.Close()
	defer os.Remove(marker.Name())

	pod := probePod("escape", node, "escape", ln.Addr().String(), marker.Name(), hostBlockDevices(t))
	yes := true
	pod.Spec.HostPID, pod.Spec.HostNetwork, pod.Spec.RestartPolicy = true, true, corev1.RestartPolicyNever
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
	pod.Spec.Containers[0].Ports = nil
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: probeNS}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	defer func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), probeNS, metav1.DeleteOptions{}) }()
	if _, err := cs.CoreV1().Pods(probeNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	runErr := podSucceeded(ctx, cs, "escape")
	logs, err := cs.CoreV1().Pods(probeNS).GetLogs("escape", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("logs of the escape pod: %v (pod: %v)", err, runErr)
	}
	t.Logf("a privileged pod (hostPID, hostNetwork) on %s tries the host:\n%s", node, logs)
	blocked := strings.Count(string(logs), "BLOCKED ")
	if runErr != nil || strings.Contains(string(logs), "ESCAPED ") || blocked < 12 {
		t.Errorf("the pod got through or did not try everything (%d attempts blocked): %v", blocked, runErr)
	}
	select {
	case from := <-accepted:
		t.Errorf("the host's service at %s accepted a connection from %s", ln.Addr(), from)
	default:
	}
}

// hostBlockDevices are the host's block devices (up to four, from /proc/partitions) as
// MAJ:MIN, the one under / first when / is on a block device.
func hostBlockDevices(t *testing.T) string {
	t.Helper()
	var out []string
	var st unix.Stat_t
	if unix.Stat("/", &st) == nil && unix.Major(st.Dev) != 0 {
		out = append(out, fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)))
	}
	f, err := os.Open("/proc/partitions")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < 4 {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 || fields[0] == "major" {
			continue
		}
		if d := fields[0] + ":" + fields[1]; !strings.Contains(strings.Join(out, ","), d) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Skip("this host shows no block device to try")
	}
	return strings.Join(out, ",")
}

// checkAddonsLockedDown: Prometheus answers on its NodePort but its lifecycle API (anyone could
// stop it) is off, and `meshlab addons port-forward` reaches it through the API server.
func checkAddonsLockedDown(t *testing.T, ctx context.Context, c *cli) {
	t.Helper()
	prom := "http://" + net.JoinHostPort(c.lab.Machines[0].Address, "30003")
	resp, err := http.Post(prom+"/-/quit", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("POST %s/-/quit: %s %s", prom, resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("the lifecycle API answered %s, want 403", resp.Status)
	}

	cmd := exec.CommandContext(ctx, c.bin, "addons", "port-forward", "prometheus", "--kubeconfig", c.dir().Kubeconfig())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("meshlab addons port-forward printed nothing: %v", err)
	}
	t.Logf("meshlab addons port-forward prometheus: %s", strings.TrimSpace(line))
	url := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(line)
	if url == "" {
		t.Fatalf("no local URL in %q", line)
	}
	resp, err = http.Get(url + "/-/ready")
	if err != nil {
		t.Fatalf("GET %s/-/ready through the forward: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Prometheus through the forward: %s", resp.Status)
	}
}

// checkWrongHostsFile: a hosts file of another lab that names this lab's machines (one wrong
// file away from resetting someone's cluster) cannot reset them: down stops at the ownership
// check, naming the host and the lab it belongs to, and the cluster is untouched.
func checkWrongHostsFile(t *testing.T, ctx context.Context, c *cli, cs kubernetes.Interface) {
	t.Helper()
	src, err := os.ReadFile(c.lab.HostsFile)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.yaml")
	text := regexp.MustCompile(`(?m)^name: .*$`).ReplaceAllString(string(src), "name: someone-else")
	if text == string(src) {
		t.Fatalf("no name: line in %s", c.lab.HostsFile)
	}
	if err := os.WriteFile(other, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	events, _, err := c.run(ctx, nil, "down", "--yes", "--hosts", other, "--playbook", phases.Playbook)
	if err == nil {
		t.Fatal("down with another lab's hosts file succeeded on this lab's machines")
	}
	fail := failureOf(events, c.lab.Machines[0].Name)
	if fail == nil || fail.Phase != phases.OwnershipPhase || !strings.Contains(fail.Error.Message, `belongs to meshlab lab "`+c.lab.Name+`"`) {
		t.Errorf("the refusal does not name the host and its lab: %+v", fail)
	} else {
		t.Logf("down refused: host=%s %s (hint: %s)", fail.Host, fail.Error.Message, fail.Error.Hint)
	}
	for _, e := range events {
		if e.Kind == event.TaskDone && !readOnlyPhases[e.Phase] {
			t.Errorf("down changed something: %s %s/%s", e.Host, e.Phase, e.Task)
		}
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != len(c.lab.Machines) {
		t.Errorf("the cluster after the refused down: %v nodes, %v", len(nodes.Items), err)
	}
}

// TestDownLeavesAHostItDidNotSetUp: a lab machine that holds a hand-made Kubernetes node (a
// kubelet.conf and Flannel's CNI file, no meshlab marker) is not reset by `meshlab down`: it
// stops before changing anything and says which host and why. With --force it goes ahead. No
// cluster is built: the machine alone is enough.
func TestDownLeavesAHostItDidNotSetUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c := setup(t, ctx, "e2eo", 1)
	node := c.lab.Machines[0].Name
	files := []string{"/etc/kubernetes/kubelet.conf", "/etc/cni/net.d/10-flannel.conflist"}
	exists := func() []string {
		var have []string
		for _, f := range files {
			if _, err := c.mgr.Exec(ctx, c.lab.Name, node, "test", "-e", f); err == nil {
				have = append(have, f)
			}
		}
		return have
	}
	if _, err := c.mgr.Exec(ctx, c.lab.Name, node, "sh", "-c",
		"mkdir -p /etc/kubernetes /etc/cni/net.d && echo 'apiVersion: v1' > "+files[0]+" && echo '{}' > "+files[1]); err != nil {
		t.Fatal(err)
	}
	events, _, err := c.run(ctx, nil, "down", "--yes", "--hosts", c.lab.HostsFile, "--playbook", phases.Playbook)
	if err == nil {
		t.Fatal("down reset a host meshlab did not set up")
	}
	fail := failureOf(events, node)
	if fail == nil || !strings.Contains(fail.Error.Message, "will not reset "+node) || !strings.Contains(fail.Error.Message, files[0]) ||
		!strings.Contains(fail.Error.Hint, "--force") {
		t.Fatalf("the refusal does not name the host, what it found and --force: %+v (err %v)", fail, err)
	}
	t.Logf("down refused: %s (hint: %s)", fail.Error.Message, fail.Error.Hint)
	if have := exists(); len(have) != len(files) {
		t.Fatalf("a refused down changed the host: only %v left", have)
	}
	if _, _, err := c.run(ctx, nil, "down", "--yes", "--force", "--hosts", c.lab.HostsFile, "--playbook", phases.Playbook); err != nil {
		t.Fatalf("down --force: %v", err)
	}
	if have := exists(); len(have) != 0 {
		t.Errorf("down --force left %v", have)
	}
}

// checkClusterIPAddons switches the lab's hosts file to components.addonService: ClusterIP and
// runs up again: the addons lose their NodePorts (nothing answers on Prometheus' 30003 any
// more), the gateway keeps its own, and the verify phase reaches the addons through
// port-forwards.
func checkClusterIPAddons(t *testing.T, ctx context.Context, c *cli) {
	t.Helper()
	src, err := os.ReadFile(c.lab.HostsFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	if strings.Contains(text, "\ncomponents:") {
		text = strings.Replace(text, "\ncomponents:", "\ncomponents:\n  addonService: ClusterIP", 1)
	} else {
		text += "components:\n  addonService: ClusterIP\n"
	}
	hosts := filepath.Join(filepath.Dir(c.lab.HostsFile), "hosts-clusterip.yaml")
	if err := os.WriteFile(hosts, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	events, took, err := c.run(ctx, nil, "up", "--hosts", hosts, "--playbook", phases.Playbook, "--bundle", c.bundle, "--stack", "--verify", "quick")
	if err != nil {
		t.Fatalf("up with ClusterIP addons: %v\n%s", err, verifyRows(events))
	}
	t.Logf("MEASURE up switching the addons to ClusterIP (quick verify through port-forwards): %s", took.Round(time.Second))
	t.Logf("verify rows:\n%s\nsummary:\n%s", verifyRows(events), summaryLines(events))
	for _, e := range events {
		if e.Phase == "addons" && (e.Kind == event.TaskDone || e.Kind == event.TaskSkip || e.Kind == event.TaskFail) {
			t.Logf("addons: %s %s %s", e.Kind, e.Task, e.Line)
		}
	}
	// kube-proxy drops the NodePort's rules at its next sync after the Service changed.
	node := c.lab.Machines[0].Address
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(node, "30003"), 5*time.Second)
		if err != nil {
			t.Logf("NodePort 30003 after the switch: %v", err)
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Error("Prometheus still answers on NodePort 30003 a minute after the switch")
			break
		}
		sleep(ctx, t, time.Second)
	}
	if resp, err := http.Get("http://" + net.JoinHostPort(node, "30080") + "/productpage"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the gateway's NodePort after the switch: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if !strings.Contains(summaryLines(events), "meshlab addons port-forward prometheus") {
		t.Error("the summary does not say how to reach Prometheus")
	}
}
