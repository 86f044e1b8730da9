package cni

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/internal/golden"
)

func render(t *testing.T, objs []*unstructured.Unstructured) []byte {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return []byte(b.String())
}

func TestFlannelGolden(t *testing.T) {
	cases := map[string]Options{
		"flannel-online.yaml": {PodCIDR: "10.244.0.0/16", Image: "ghcr.io/flannel-io/flannel:v0.27.4",
			CNIPluginImage: "ghcr.io/flannel-io/flannel-cni-plugin:v1.8.0-flannel1", IPMasq: true},
		"flannel-offline.yaml": {PodCIDR: "10.32.0.0/16", Image: "ghcr.io/flannel-io/flannel:v0.28.10", Offline: true,
			InstallConf: []string{"/opt/bin/install-conf", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"},
			NodeIPs:     []string{"192.168.56.10", "192.168.56.11"}},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			objs, err := Flannel(o)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 6 {
				t.Errorf("%d objects, want 6", len(objs))
			}
			out := render(t, objs)
			golden.Check(t, filepath.Join("testdata", name), out)
			s := string(out)
			if o.Offline == strings.Contains(s, "--ip-masq") || o.Offline != strings.Contains(s, "imagePullPolicy: Never") {
				t.Errorf("offline=%v: masquerade or pull policy wrong", o.Offline)
			}
			if !strings.Contains(s, `"Network": "`+o.PodCIDR+`"`) {
				t.Errorf("pod CIDR %s not in net-conf.json", o.PodCIDR)
			}
			for _, ip := range o.NodeIPs {
				if !strings.Contains(s, "- --iface="+ip+"\n") {
					t.Errorf("flanneld is not told to use the interface of %s", ip)
				}
			}
		})
	}
	if _, err := Flannel(Options{PodCIDR: "nope", Image: "x"}); err == nil {
		t.Error("a bad CIDR must fail")
	}
	if _, err := Flannel(Options{PodCIDR: "10.244.0.0/16", Image: "x", NodeIPs: []string{"eth1"}}); err == nil {
		t.Error("a node IP that is not an address must fail")
	}
}

func TestSetNetwork(t *testing.T) {
	objs, err := Flannel(Options{PodCIDR: "10.244.0.0/16", Image: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := SetNetwork(objs, "10.50.0.0/16"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(render(t, objs)), `"Network": "10.50.0.0/16"`) {
		t.Errorf("network not rewritten:\n%s", render(t, objs))
	}
	if err := SetNetwork(objs[:1], "10.50.0.0/16"); err == nil {
		t.Error("a manifest without the ConfigMap must fail")
	}
}
