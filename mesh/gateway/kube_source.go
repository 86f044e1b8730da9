package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/kubereg"
	"github.com/meshlab/meshlab/mesh/pilot/model"
)

// KubeSource keeps a config file the Gateway reads in step with a cluster: the services and
// routing of a model.Registry (mesh/pilot/kubereg's watcher, the control plane's view) and the
// networking.istio.io Gateways, listed every Poll. The gateway then runs on the file as on any
// other, so the cluster and the file-configured lab share one code path.
type KubeSource struct {
	Registry model.Registry
	Istio    istioclient.Interface
	Path     string        // the file written (atomically, only when its content changes)
	Poll     time.Duration // Gateway list interval; default 2s
	Log      *slog.Logger
}

// Run writes the file after the first full sync and after every change until ctx ends. ready
// is closed once the first file is written.
func (k *KubeSource) Run(ctx context.Context, ready chan<- struct{}) error {
	if k.Poll == 0 {
		k.Poll = 2 * time.Second
	}
	if k.Log == nil {
		k.Log = slog.Default()
	}
	var mu sync.Mutex
	var state *model.State
	changed := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- k.Registry.Run(ctx, func(s model.State) {
			mu.Lock()
			state = &s
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}()
	tick := time.NewTicker(k.Poll)
	defer tick.Stop()
	var last []byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if err == nil || ctx.Err() != nil { // the registry ended with ctx: not a failure
				return nil
			}
			return fmt.Errorf("gateway: cluster registry: %w", err)
		case <-changed:
		case <-tick.C:
		}
		mu.Lock()
		s := state
		mu.Unlock()
		if s == nil {
			continue // not synced yet
		}
		data, err := k.render(ctx, *s)
		if err != nil {
			k.Log.Error("gateway: cluster config", "err", err)
			continue
		}
		if bytes.Equal(data, last) {
			continue
		}
		if err := writeFile(k.Path, data); err != nil {
			return err
		}
		if last == nil && ready != nil {
			close(ready)
		}
		last = data
	}
}

// render writes the Registry, the routing and the Gateways as the documents config.Load and
// Translate read.
func (k *KubeSource) render(ctx context.Context, s model.State) ([]byte, error) {
	var out bytes.Buffer
	if err := writeDoc(&out, map[string]any{"apiVersion": config.MeshlabAPIVersion, "kind": "Registry",
		"spec": map[string]any{"services": s.Services}}); err != nil {
		return nil, err
	}
	addAs := func(apiVersion, kind string, meta metav1.ObjectMeta, spec any) error {
		raw, err := json.Marshal(spec)
		if err != nil {
			return fmt.Errorf("gateway: %s %s/%s: %w", kind, meta.Namespace, meta.Name, err)
		}
		md := map[string]any{"name": meta.Name, "namespace": meta.Namespace, "creationTimestamp": meta.CreationTimestamp}
		if len(meta.Annotations) > 0 {
			md["annotations"] = meta.Annotations
		}
		return writeDoc(&out, map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": md, "spec": json.RawMessage(raw)})
	}
	add := func(kind string, meta metav1.ObjectMeta, spec any) error {
		return addAs("networking.istio.io/v1", kind, meta, spec)
	}
	// The destinations' PeerAuthentications: auto mTLS sends plaintext where one disables it.
	for _, pa := range s.PeerAuthentications {
		if err := addAs("security.istio.io/v1", "PeerAuthentication", pa.ObjectMeta, &pa.Spec); err != nil {
			return nil, err
		}
	}
	for _, p := range s.AuthorizationPolicies {
		if err := addAs("security.istio.io/v1", "AuthorizationPolicy", p.ObjectMeta, &p.Spec); err != nil {
			return nil, err
		}
	}
	for _, ra := range s.RequestAuthentications {
		if err := addAs("security.istio.io/v1", "RequestAuthentication", ra.ObjectMeta, &ra.Spec); err != nil {
			return nil, err
		}
	}
	for _, vs := range s.VirtualServices {
		if err := add("VirtualService", vs.ObjectMeta, &vs.Spec); err != nil {
			return nil, err
		}
	}
	for _, dr := range s.DestinationRules {
		if err := add("DestinationRule", dr.ObjectMeta, &dr.Spec); err != nil {
			return nil, err
		}
	}
	gws, err := k.Istio.NetworkingV1().Gateways(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("gateway: list Gateways: %w", err)
	}
	for i := range gws.Items {
		g := gws.Items[i]
		if err := add("Gateway", g.ObjectMeta, &g.Spec); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}

func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gateway-*")
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("gateway: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

// RunInCluster runs the gateway on a cluster's state: a KubeSource built from cfg keeps
// cluster.yaml in opts.WorkDir current, and the Gateway serves from it.
func RunInCluster(ctx context.Context, cfg *rest.Config, opts Options) error {
	reg, err := kubereg.New(cfg, kubereg.Options{Log: opts.Logger})
	if err != nil {
		return err
	}
	ic, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("gateway: istio client: %w", err)
	}
	if opts.WorkDir == "" {
		d, err := os.MkdirTemp("", "meshlab-gateway-")
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		defer os.RemoveAll(d)
		opts.WorkDir = d
	}
	path := filepath.Join(opts.WorkDir, "cluster.yaml")
	src := &KubeSource{Registry: reg, Istio: ic, Path: path, Log: opts.Logger}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan struct{})
	srcErr := make(chan error, 1)
	go func() { srcErr <- src.Run(ctx, ready) }()
	select {
	case <-ready:
	case err := <-srcErr:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
	opts.ConfigFiles = append(opts.ConfigFiles, path)
	g, err := New(opts)
	if err != nil {
		return err
	}
	runErr := g.Run(ctx)
	cancel()
	if err := <-srcErr; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}
