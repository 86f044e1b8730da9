package stack

import (
	"fmt"
	"log/slog"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/addons"
	"github.com/meshlab/meshlab/cluster/kubeconfig"
)

// Clients are the cluster connections the phases use.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Helm is the action configuration for the addons' namespace.
	Helm *action.Configuration
	// Poll is how often rollouts are checked (default 2 s; tests shorten it).
	Poll time.Duration
}

// NewClients connects to the cluster a kubeconfig names.
func NewClients(path string) (*Clients, error) {
	cfg, err := kubeconfig.RESTConfig(path)
	if err != nil {
		return nil, err
	}
	// A dozen applies and several rollout polls: client-go's default 5 QPS would make the waits
	// about the rate limiter rather than the cluster.
	cfg.QPS, cfg.Burst = 50, 100
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("stack: kubeconfig %s: %w", path, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("stack: kubeconfig %s: %w", path, err)
	}
	helm, err := addons.NewConfiguration(path, addons.Namespace, slog.Default())
	if err != nil {
		return nil, err
	}
	return &Clients{Kube: kube, Dynamic: dyn, Helm: helm}, nil
}
