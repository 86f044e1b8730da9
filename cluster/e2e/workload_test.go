package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/internal/image"
	"github.com/meshlab/meshlab/provision/connect"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/transport"
)

const (
	probeImage = "meshlab.local/e2e-probe:v1"
	probeNS    = "meshlab-e2e"
)

// loadProbeImage builds the probe command into a scratch image and imports it on every host
// over SSH, the same way meshlab side-loads images.
func loadProbeImage(t *testing.T, ctx context.Context, c *cli) {
	t.Helper()
	work := t.TempDir()
	bin := buildStatic(t, "./cluster/e2e/probe", filepath.Join(work, "probe"))
	img, err := image.Build(image.Spec{Ref: probeImage, Files: []image.Entry{image.Binary("/probe", bin)},
		Entrypoint: []string{"/probe"}}, work)
	if err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(work, "probe.tar")
	if err := image.WriteTarball(tarball, img); err != nil {
		t.Fatal(err)
	}
	lab, err := inventory.Load(c.lab.HostsFile)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := connect.ResolveSecrets(lab)
	if err != nil {
		t.Fatal(err)
	}
	dial := connect.Dialer(lab, sec, connect.Options{})
	for _, h := range connect.Hosts(lab) {
		tr, err := dial(ctx, h)
		if err != nil {
			t.Fatalf("ssh %s: %v", h.Name, err)
		}
		importImage(t, ctx, tr, h, tarball)
		_ = tr.Close()
	}
}

func importImage(t *testing.T, ctx context.Context, tr transport.Transport, h *engine.Host, tarball string) {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const remote = "/tmp/meshlab-e2e-probe.tar"
	if err := tr.Put(ctx, f, transport.Upload{Path: remote, Mode: 0o600, Become: true}); err != nil {
		t.Fatalf("%s: put probe image: %v", h.Name, err)
	}
	cmd := "ctr -n k8s.io images import --all-platforms " + remote + " && rm -f " + remote
	if _, err := tr.Run(ctx, transport.Cmd{Command: cmd, Become: true, Timeout: 2 * time.Minute}); err != nil {
		t.Fatalf("%s: %s: %v", h.Name, cmd, err)
	}
}

// checkPodToPod runs a server pod behind a Service on each worker, then a client pod on each
// worker that fetches the other worker's Service by its DNS name: pod network (Flannel vxlan),
// Services (kube-proxy) and CoreDNS all have to work.
func checkPodToPod(t *testing.T, ctx context.Context, cs kubernetes.Interface, workers []string) {
	t.Helper()
	if len(workers) < 2 {
		t.Fatalf("need 2 workers, have %v", workers)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: probeNS}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), probeNS, metav1.DeleteOptions{})
	})
	for _, w := range workers[:2] {
		if err := createServer(ctx, cs, w); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range workers[:2] {
		other := workers[1-i]
		url := fmt.Sprintf("http://server-%s.%s.svc.cluster.local:8080/", other, probeNS)
		pod := probePod("client-"+w, w, "get", url)
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
		if _, err := cs.CoreV1().Pods(probeNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range workers[:2] {
		if err := podSucceeded(ctx, cs, "client-"+w); err != nil {
			t.Error(err)
		}
	}
}

func probePod(name, node string, args ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: probeNS, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"kubernetes.io/hostname": node},
			Containers: []corev1.Container{{Name: "probe", Image: probeImage, ImagePullPolicy: corev1.PullNever,
				Args: args, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}},
		},
	}
}

func createServer(ctx context.Context, cs kubernetes.Interface, node string) error {
	name := "server-" + node
	if _, err := cs.CoreV1().Pods(probeNS).Create(ctx, probePod(name, node, "serve", ":8080"), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("server pod on %s: %w", node, err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: probeNS},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Port: 8080, TargetPort: intstr.FromInt32(8080)}}}}
	if _, err := cs.CoreV1().Services(probeNS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("service for %s: %w", node, err)
	}
	return nil
}

// podSucceeded polls (with the context's deadline) until the pod has succeeded or failed.
func podSucceeded(ctx context.Context, cs kubernetes.Interface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	last := ""
	for {
		p, err := cs.CoreV1().Pods(probeNS).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			last = string(p.Status.Phase)
			for _, s := range p.Status.ContainerStatuses {
				if s.State.Waiting != nil {
					last += " (" + s.State.Waiting.Reason + ": " + s.State.Waiting.Message + ")"
				}
			}
			switch p.Status.Phase {
			case corev1.PodSucceeded:
				return nil
			case corev1.PodFailed:
				logs, _ := cs.CoreV1().Pods(probeNS).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
				return fmt.Errorf("pod %s failed: %s", name, logs)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pod %s did not finish: last phase %s: %w", name, last, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}
