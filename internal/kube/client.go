package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Client is a connection to one cluster: typed and dynamic clients, and a REST mapper that
// finds where each kind is served.
type Client struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Mapper finds an object's API resource. NewClient's reads the cluster's discovery and is
	// read again when a kind is missing (a CRD applied since); tests pass a fixed one.
	Mapper meta.RESTMapper
}

// NewClient connects to the cluster cfg points at. Unless cfg sets its own rate limits, the
// client allows 50 requests a second (burst 100): a command applying a dozen objects and
// polling rollouts would otherwise wait on client-go's default of 5, not on the cluster.
func NewClient(cfg *rest.Config) (*Client, error) {
	if cfg.QPS == 0 && cfg.Burst == 0 {
		cfg = rest.CopyConfig(cfg)
		cfg.QPS, cfg.Burst = 50, 100
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return &Client{Kube: kube, Dynamic: dyn, Mapper: mapper}, nil
}

// Resource returns the dynamic client for obj's kind, in obj's namespace when the kind is
// namespaced. A kind the mapper does not know makes it read discovery again once.
func (c *Client) Resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	m, err := c.mapping(obj)
	if err != nil {
		return nil, err
	}
	return c.resource(obj, m)
}

func (c *Client) mapping(obj *unstructured.Unstructured) (*meta.RESTMapping, error) {
	gvk := obj.GroupVersionKind()
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		if r, ok := c.Mapper.(meta.ResettableRESTMapper); ok {
			r.Reset()
			m, err = c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
	}
	switch {
	case meta.IsNoMatchError(err):
		return nil, &MappingError{Object: Describe(obj), APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Err: err}
	case err != nil: // discovery itself failed: the cluster may serve the kind, nobody knows
		return nil, fmt.Errorf("%s: find where the cluster serves %s: %w", Describe(obj), obj.GetKind(), err)
	}
	return m, nil
}

func (c *Client) resource(obj *unstructured.Unstructured, m *meta.RESTMapping) (dynamic.ResourceInterface, error) {
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return c.Dynamic.Resource(m.Resource), nil
	}
	if obj.GetNamespace() == "" {
		return nil, fmt.Errorf("%s: %s is namespaced but the object names no namespace", Describe(obj), obj.GetKind())
	}
	return c.Dynamic.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
}

// MappingError is an object whose kind the cluster does not serve (discovery answered, and
// the kind is not in it).
type MappingError struct {
	Object           string // Describe
	APIVersion, Kind string
	Err              error
}

func (e *MappingError) Error() string {
	return fmt.Sprintf("%s: the cluster serves no %s %s (is its CRD installed?): %v", e.Object, e.APIVersion, e.Kind, e.Err)
}

func (e *MappingError) Unwrap() error { return e.Err }

// Describe names an object the way meshlab's messages do: "Kind namespace/name", or
// "Kind name" for a cluster-wide one.
func Describe(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return obj.GetKind() + " " + ns + "/" + obj.GetName()
	}
	return obj.GetKind() + " " + obj.GetName()
}
