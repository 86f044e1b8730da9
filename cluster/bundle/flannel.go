package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// AdaptFlannel rewrites the upstream kube-flannel.yml for an offline lab:
//   - every container uses the bundle's flannel image with imagePullPolicy Never, so a missing
//     side-loaded image fails loudly instead of trying a registry;
//   - the install-cni-plugin init container is dropped: its image only copies the flannel CNI
//     binary, which the bundle ships in cni/ and meshlab installs into /opt/cni/bin itself;
//   - flanneld loses --ip-masq: the lab never NATs pod traffic towards anything off the machine
//     (a lab's traffic stays on its own hosts); pod-to-pod traffic over vxlan needs no masquerade.
//
// Everything else (RBAC, ConfigMap, pod CIDR 10.244.0.0/16, vxlan) is kept as pinned.
func AdaptFlannel(upstream []byte, flannelImage string) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(upstream))
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	found := false
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("kube-flannel.yml: %w", err)
		}
		if doc == nil {
			continue
		}
		if doc["kind"] == "DaemonSet" {
			if err := adaptDaemonSet(doc, flannelImage); err != nil {
				return nil, fmt.Errorf("kube-flannel.yml: DaemonSet: %w", err)
			}
			found = true
		}
		if err := enc.Encode(doc); err != nil {
			return nil, fmt.Errorf("kube-flannel.yml: %w", err)
		}
	}
	if !found {
		return nil, errors.New("kube-flannel.yml: no DaemonSet found")
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func adaptDaemonSet(ds map[string]any, img string) error {
	pod, ok := dig(ds, "spec", "template", "spec")
	if !ok {
		return errors.New("no spec.template.spec")
	}
	var inits []any
	for _, c := range list(pod["initContainers"]) {
		cm, ok := c.(map[string]any)
		if !ok || cm["name"] == "install-cni-plugin" {
			continue
		}
		inits = append(inits, cm)
	}
	pod["initContainers"] = inits
	containers := list(pod["containers"])
	if len(containers) == 0 {
		return errors.New("no containers")
	}
	for _, c := range append(inits, containers...) {
		cm, ok := c.(map[string]any)
		if !ok {
			return fmt.Errorf("container is %T, not a mapping", c)
		}
		cm["image"] = img
		cm["imagePullPolicy"] = "Never"
		var args []any
		for _, a := range list(cm["args"]) {
			if a != "--ip-masq" {
				args = append(args, a)
			}
		}
		if cm["args"] != nil {
			cm["args"] = args
		}
	}
	return nil
}

func dig(m map[string]any, keys ...string) (map[string]any, bool) {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}
