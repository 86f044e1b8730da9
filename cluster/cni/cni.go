// Package cni installs the cluster's pod network: Flannel, from a manifest embedded here and
// pinned through provision/versions (or the offline bundle's adapted copy), applied with
// server-side apply so a re-run is a no-op and never fights other field managers.
package cni

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"text/template"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

//go:embed flannel.yaml.tmpl
var flannelTemplate string

// Options fill the embedded Flannel manifest.
type Options struct {
	PodCIDR string // must equal the cluster's pod CIDR (kubeadm's podSubnet)
	Image   string // the flanneld image
	// CNIPluginImage copies the flannel CNI binary into /opt/cni/bin; "" when the hosts have it
	// already (the offline bundle installs it).
	CNIPluginImage string
	// Offline: images were side-loaded; pods must never pull (a missing image fails loudly).
	Offline bool
	// IPMasq lets flanneld masquerade pod traffic leaving the pod network. Off in labs that must
	// never NAT traffic off the machine.
	IPMasq bool
	// NodeIPs are every node's address on the network the nodes share (their kubelet node-ip),
	// passed as one --iface each: flanneld on a node takes the first that is its own, so VXLAN
	// runs over the interface that carries the node IP whatever it is called on that host.
	// Empty: flanneld takes the default route's interface (wrong on VirtualBox, where that is
	// the NAT interface every VM shares).
	NodeIPs []string
	// InstallConf is the init container command that copies the CNI config into place
	// (default: cp from the image's shell tools).
	InstallConf []string
}

// Flannel renders the embedded manifest into objects.
func Flannel(o Options) ([]*unstructured.Unstructured, error) {
	if _, err := netip.ParsePrefix(o.PodCIDR); err != nil {
		return nil, fmt.Errorf("flannel: pod CIDR %q: %w", o.PodCIDR, err)
	}
	if o.Image == "" {
		return nil, errors.New("flannel: no image")
	}
	for _, ip := range o.NodeIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return nil, fmt.Errorf("flannel: node IP %q is not an IP address", ip)
		}
	}
	if len(o.InstallConf) == 0 {
		o.InstallConf = []string{"cp", "-f", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"}
	}
	tpl, err := template.New("flannel").Option("missingkey=error").Parse(flannelTemplate)
	if err != nil {
		return nil, fmt.Errorf("flannel template: %w", err)
	}
	pull := "IfNotPresent"
	if o.Offline {
		pull = "Never"
	}
	var b bytes.Buffer
	err = tpl.Execute(&b, struct {
		Options
		PullPolicy string
	}{o, pull})
	if err != nil {
		return nil, fmt.Errorf("flannel template: %w", err)
	}
	return Decode(b.Bytes())
}

// Decode splits a multi-document YAML manifest into objects (empty documents are skipped).
func Decode(manifest []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewDecoder(bytes.NewReader(manifest))
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("manifest document %d: %w", i, err)
		}
		if len(doc) == 0 {
			continue
		}
		// Round-trip through JSON: unstructured wants JSON types (int64, not int).
		j, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("manifest document %d: %w", i, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, fmt.Errorf("manifest document %d: %w", i, err)
		}
		out = append(out, u)
	}
}

// SetNetwork rewrites the Network of Flannel's net-conf.json to podCIDR, for a manifest (such as
// the bundle's) written for Flannel's default 10.244.0.0/16.
func SetNetwork(objs []*unstructured.Unstructured, podCIDR string) error {
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" {
			continue
		}
		raw, ok, _ := unstructured.NestedString(o.Object, "data", "net-conf.json")
		if !ok {
			continue
		}
		var conf map[string]any
		if err := json.Unmarshal([]byte(raw), &conf); err != nil {
			return fmt.Errorf("flannel net-conf.json: %w", err)
		}
		conf["Network"] = podCIDR
		b, err := json.MarshalIndent(conf, "", "  ")
		if err != nil {
			return err
		}
		return unstructured.SetNestedField(o.Object, string(b)+"\n", "data", "net-conf.json")
	}
	return errors.New("flannel manifest: no ConfigMap with net-conf.json")
}

// ConfigHashAnnotation on the DaemonSet's pod template carries a hash of Flannel's ConfigMap:
// changing the config changes the template, which rolls the pods that copy it onto the nodes.
const ConfigHashAnnotation = "meshlab.dev/flannel-config-hash"

// StampConfigHash sets ConfigHashAnnotation on every DaemonSet from the ConfigMaps' data.
func StampConfigHash(objs []*unstructured.Unstructured) error {
	h := sha256.New()
	found := false
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" {
			continue
		}
		data, _, _ := unstructured.NestedStringMap(o.Object, "data")
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "%s=%s\n", k, data[k])
		}
		found = true
	}
	if !found {
		return errors.New("flannel manifest: no ConfigMap")
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	for _, o := range objs {
		if o.GetKind() == "DaemonSet" {
			if err := unstructured.SetNestedField(o.Object, sum, "spec", "template", "metadata", "annotations", ConfigHashAnnotation); err != nil {
				return fmt.Errorf("flannel DaemonSet: %w", err)
			}
		}
	}
	return nil
}
