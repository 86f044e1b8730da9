package kube

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Getter hands the same cluster to code that takes kubectl's RESTClientGetter (Helm's
// action.Configuration), with namespace as its default namespace. It reads no file again, so
// Helm talks to exactly the cluster Load found.
func (c *Config) Getter(namespace string) genericclioptions.RESTClientGetter {
	return &getter{cfg: c, namespace: namespace}
}

type getter struct {
	cfg       *Config
	namespace string

	once sync.Once
	disc discovery.CachedDiscoveryInterface
	err  error
}

var _ genericclioptions.RESTClientGetter = (*getter)(nil)

func (g *getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg.REST), nil }

func (g *getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.once.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(g.cfg.REST)
		if err != nil {
			g.err = err
			return
		}
		g.disc = memory.NewMemCacheClient(dc)
	})
	return g.disc, g.err
}

func (g *getter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(dc), nil
}

func (g *getter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	ov := &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}}
	if g.cfg.raw == nil { // in-cluster: client-go's loader with no files falls back to the pod's account
		return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(&clientcmd.ClientConfigLoadingRules{}, ov)
	}
	return clientcmd.NewNonInteractiveClientConfig(*g.cfg.raw, g.cfg.raw.CurrentContext, ov, nil)
}
