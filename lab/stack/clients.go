package stack

import (
	"log/slog"
	"time"

	"helm.sh/helm/v3/pkg/action"

	"github.com/meshlab/meshlab/addons"
	"github.com/meshlab/meshlab/internal/kube"
)

// Clients are the cluster connections the phases use.
type Clients struct {
	*kube.Client // applies, deletes, and the typed and dynamic clients
	// Config is the cluster the clients talk to (the verify phase connects its own).
	Config *kube.Config
	// Helm is the action configuration for the addons' namespace.
	Helm *action.Configuration
	// Poll is how often rollouts are checked (default 2 s; tests shorten it).
	Poll time.Duration
}

// NewClients connects to the cluster the lab's kubeconfig names. The file is named explicitly:
// $KUBECONFIG must not point the lab's own phases at another cluster.
func NewClients(path string) (*Clients, error) {
	cfg, err := kube.Load(kube.LoadOptions{Kubeconfig: path})
	if err != nil {
		return nil, err
	}
	c, err := kube.NewClient(cfg.REST)
	if err != nil {
		return nil, err
	}
	helm, err := addons.NewConfiguration(cfg, addons.Namespace, slog.Default())
	if err != nil {
		return nil, err
	}
	return &Clients{Client: c, Config: cfg, Helm: helm}, nil
}
