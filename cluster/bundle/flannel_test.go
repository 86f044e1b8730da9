package bundle

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/meshlab/meshlab/internal/golden"
	"github.com/meshlab/meshlab/provision/versions"
)

const flannelFixture = `apiVersion: v1
kind: Namespace
metadata:
  name: kube-flannel
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kube-flannel-ds
spec:
  template:
    spec:
      initContainers:
      - name: install-cni-plugin
        image: ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3
      - name: install-cni
        image: ghcr.io/flannel-io/flannel:v0.28.10
        command: [/opt/bin/install-conf]
      containers:
      - name: kube-flannel
        image: ghcr.io/flannel-io/flannel:v0.28.10
        args: [--ip-masq, --kube-subnet-mgr]
`

func TestAdaptFlannel(t *testing.T) {
	out, err := AdaptFlannel([]byte(flannelFixture), "ghcr.io/flannel-io/flannel:v0.28.10")
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var d map[string]any
		if dec.Decode(&d) != nil {
			break
		}
		docs = append(docs, d)
	}
	if len(docs) != 2 {
		t.Fatalf("got %d documents, want 2:\n%s", len(docs), out)
	}
	s := string(out)
	for _, bad := range []string{"install-cni-plugin", "--ip-masq", "flannel-cni-plugin"} {
		if strings.Contains(s, bad) {
			t.Errorf("adapted manifest still contains %q:\n%s", bad, s)
		}
	}
	if n := strings.Count(s, "imagePullPolicy: Never"); n != 2 {
		t.Errorf("imagePullPolicy: Never %d times, want 2 (install-cni, kube-flannel):\n%s", n, s)
	}
	if !strings.Contains(s, "--kube-subnet-mgr") {
		t.Errorf("other args lost:\n%s", s)
	}
}

func TestAdaptFlannelRejects(t *testing.T) {
	for name, in := range map[string]string{
		"no daemonset":  "kind: Namespace\n",
		"not yaml":      "kind: [\n",
		"no containers": "kind: DaemonSet\nspec: {template: {spec: {}}}\n",
	} {
		if _, err := AdaptFlannel([]byte(in), "x"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestAdaptFlannelGolden adapts the pinned upstream kube-flannel.yml (from the module cache, as
// the bundle build does) and compares with testdata; refresh with go test -update.
func TestAdaptFlannelGolden(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := resolveModule(ctx, "../../tools/k8sbuild/flannel", "github.com/flannel-io/flannel")
	if err != nil {
		t.Skipf("needs the flannel module (Go module proxy or cache): %v", err)
	}
	up, err := os.ReadFile(filepath.Join(r.Dir, "Documentation", "kube-flannel.yml"))
	if err != nil {
		t.Skipf("flannel source not in the module cache: %v", err)
	}
	got, err := AdaptFlannel(up, flannelImage(r.Version))
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/kube-flannel.offline.yml", got)
}

// TestFlannelCNIPluginPinMatchesManifest: the pinned flannel-cni-plugin image (what the online
// path runs as the install-cni-plugin init container) is the one the pinned Flannel release's own
// kube-flannel.yml names, so the two cannot drift apart again. Reads the manifest from the
// flannel module, as the bundle build does (downloading it on a fresh machine).
func TestFlannelCNIPluginPinMatchesManifest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := resolveModule(ctx, "../../tools/k8sbuild/flannel", "github.com/flannel-io/flannel")
	if err != nil {
		t.Fatalf("the flannel module (Go module proxy or cache): %v", err)
	}
	pins := versions.Default()
	if r.Version != pins.Flannel.Version {
		t.Fatalf("tools/k8sbuild/flannel resolves %s, the pin says %s", r.Version, pins.Flannel.Version)
	}
	up, err := os.ReadFile(filepath.Join(r.Dir, "Documentation", "kube-flannel.yml"))
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]string{} // container name → image
	dec := yaml.NewDecoder(bytes.NewReader(up))
	for {
		var doc struct {
			Kind string
			Spec struct {
				Template struct {
					Spec struct {
						InitContainers []struct{ Name, Image string } `yaml:"initContainers"`
						Containers     []struct{ Name, Image string }
					}
				}
			}
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind == "DaemonSet" {
			for _, c := range append(doc.Spec.Template.Spec.InitContainers, doc.Spec.Template.Spec.Containers...) {
				images[c.Name] = c.Image
			}
		}
	}
	if got := images["install-cni-plugin"]; got != pins.Flannel.CNIPlugin {
		t.Errorf("kube-flannel.yml of %s runs install-cni-plugin from %q; the pin (versions.Default().Flannel.CNIPlugin) says %q",
			r.Version, got, pins.Flannel.CNIPlugin)
	}
	if got := images["kube-flannel"]; got != pins.Flannel.Image {
		t.Errorf("kube-flannel.yml of %s runs flanneld from %q; the pin says %q", r.Version, got, pins.Flannel.Image)
	}
}
