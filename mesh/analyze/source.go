package analyze

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/model"
)

// FromFiles reads routing and services from files as `meshlab mesh proxy --config` does
// (mesh/config: Istio resources, RouteRules translated, meshlab Registry documents), and also
// takes the Services of Kubernetes manifests in the same files (bookinfo.yaml), so a manifest
// and its routing can be checked together without a cluster.
func FromFiles(paths ...string) (model.State, error) {
	snap, err := config.Load(paths...)
	if err != nil {
		return model.State{}, err
	}
	st := model.State{Services: snap.Services, VirtualServices: snap.VirtualServices, DestinationRules: snap.DestinationRules,
		AuthorizationPolicies: snap.AuthorizationPolicies, RequestAuthentications: snap.RequestAuthentications}
	var errs []error
	for _, p := range paths {
		svcs, err := kubernetesServices(p)
		errs = append(errs, err)
		st.Services = append(st.Services, svcs...)
	}
	return st, errors.Join(errs...)
}

// kubernetesServices returns the v1 Services of a multi-document YAML file (names only: the
// checks ask whether a host exists, not where its endpoints are).
func kubernetesServices(path string) ([]config.Service, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []config.Service
	for {
		var doc struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Metadata   struct {
				Name      string `yaml:"name"`
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("analyze: %s: %w", path, err)
		}
		if doc.APIVersion == "v1" && doc.Kind == "Service" && doc.Metadata.Name != "" {
			ns := doc.Metadata.Namespace
			if ns == "" {
				ns = config.DefaultNamespace
			}
			out = append(out, config.Service{Name: doc.Metadata.Name, Namespace: ns})
		}
	}
}

// Overlay returns base with the files' resources on top, as if they had been applied: a
// VirtualService or DestinationRule of the same namespace and name replaces the cluster's.
func Overlay(base, files model.State) model.State {
	out := model.State{Pods: base.Pods, RequestAuthentications: base.RequestAuthentications}
	out.Services = append(append(out.Services, base.Services...), files.Services...)
	out.VirtualServices = replaceByName(base.VirtualServices, files.VirtualServices, func(v *networkingv1.VirtualService) string {
		return v.Namespace + "/" + v.Name
	})
	out.DestinationRules = replaceByName(base.DestinationRules, files.DestinationRules, func(d *networkingv1.DestinationRule) string {
		return d.Namespace + "/" + d.Name
	})
	out.AuthorizationPolicies = replaceByName(base.AuthorizationPolicies, files.AuthorizationPolicies, func(p *securityv1.AuthorizationPolicy) string {
		return p.Namespace + "/" + p.Name
	})
	return out
}

func replaceByName[T any](base, over []T, key func(T) string) []T {
	replaced := map[string]bool{}
	for _, o := range over {
		replaced[key(o)] = true
	}
	var out []T
	for _, b := range base {
		if !replaced[key(b)] {
			out = append(out, b)
		}
	}
	return append(out, over...)
}
