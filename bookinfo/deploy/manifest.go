// Package deploy puts Istio's Bookinfo sample on a Kubernetes cluster and takes it off again:
// the upstream bookinfo.yaml and bookinfo-gateway.yaml, embedded unchanged, with images taken
// from the versions table (or, offline, the Go Bookinfo from the meshlab image), in a namespace
// labelled for sidecar injection, applied with server-side apply.
package deploy

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"path"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/meshlab/meshlab/provision/versions"
)

//go:embed manifests/*.yaml manifests/authz-http/*.yaml
var manifests embed.FS

// Upstream file names, as in Istio's samples/bookinfo.
const (
	BookinfoFile = "bookinfo.yaml"
	GatewayFile  = "bookinfo-gateway.yaml"
)

// InjectionLabel marks a namespace whose pods get meshlab's sidecar (mesh/inject's webhook).
const (
	InjectionLabel = "meshlab-injection"
	InjectionValue = "enabled"
)

// DefaultNamespace is where Bookinfo goes unless told otherwise.
const DefaultNamespace = "bookinfo"

// Sample returns one embedded upstream file (bookinfo.yaml, a networking sample such as
// virtual-service-all-v1.yaml, or an authorization sample such as authz-http/allow-nothing.yaml)
// byte for byte.
func Sample(name string) ([]byte, error) {
	data, err := manifests.ReadFile(path.Join("manifests", name))
	if err != nil {
		return nil, fmt.Errorf("deploy: no embedded sample %q: %w", name, err)
	}
	return data, nil
}

// Options choose what Render produces.
type Options struct {
	Namespace string            // default DefaultNamespace
	Images    versions.Bookinfo // image pins; zero means versions.Default().Bookinfo
	// Offline replaces every container with `meshlab bookinfo serve` from the meshlab image
	// (side-loaded, never pulled), for labs without registry access.
	Offline bool
	// MeshlabImage is the offline image; default "meshlab.local/meshlab:<MeshlabVersion>".
	MeshlabImage   string
	MeshlabVersion string
}

func (o *Options) defaults() {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Images.Registry == "" {
		o.Images = versions.Default().Bookinfo
	}
	if o.MeshlabImage == "" {
		v := o.MeshlabVersion
		if v == "" {
			v = "dev"
		}
		o.MeshlabImage = "meshlab.local/meshlab:" + v
	}
}

// Render returns the objects to apply, in apply order: the namespace, then bookinfo.yaml's
// objects as upstream orders them, then the gateway and its VirtualService.
func Render(opts Options) ([]*unstructured.Unstructured, error) {
	opts.defaults()
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": opts.Namespace, "labels": map[string]any{InjectionLabel: InjectionValue}},
	}}
	out := []*unstructured.Unstructured{ns}
	for _, file := range []string{BookinfoFile, GatewayFile} {
		data, err := Sample(file)
		if err != nil {
			return nil, err
		}
		objs, err := Decode(file, data)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			o.SetNamespace(opts.Namespace)
			if o.GetKind() == "Deployment" {
				if err := setContainers(o, opts); err != nil {
					return nil, fmt.Errorf("deploy: %s: Deployment %s: %w", file, o.GetName(), err)
				}
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// Decode splits a multi-document YAML file into objects; empty documents are skipped.
func Decode(name string, data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for i := 0; ; i++ {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("deploy: %s: document %d: %w", name, i+1, err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// setContainers points a Bookinfo Deployment's single container at the pinned image, or at
// the meshlab image running the Go service of the same name and version.
func setContainers(d *unstructured.Unstructured, opts Options) error {
	labels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
	app, version := labels["app"], labels["version"]
	if app == "" || version == "" {
		return errors.New("pod template has no app and version labels")
	}
	containers, _, err := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if err != nil || len(containers) == 0 {
		return fmt.Errorf("no containers: %v", err)
	}
	for i, raw := range containers {
		c, ok := raw.(map[string]any)
		if !ok {
			return fmt.Errorf("container %d is not an object", i)
		}
		if !opts.Offline {
			c["image"] = opts.Images.Image(app + "-" + version)
			continue
		}
		c["image"] = opts.MeshlabImage
		c["imagePullPolicy"] = "Never"
		c["command"] = []any{"meshlab"}
		// HOSTNAME (the pod name in Kubernetes) is what "Reviews served by:" shows, as upstream.
		c["args"] = []any{"bookinfo", "serve", "--service", app, "--version", version, "--listen", ":9080"}
		containers[i] = c
	}
	return unstructured.SetNestedSlice(d.Object, containers, "spec", "template", "spec", "containers")
}
