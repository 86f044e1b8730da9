// Package filereg is the control plane's file registry: the same YAML files `meshlab mesh proxy
// --config` reads (Registry documents for services and endpoints, Istio VirtualServices and
// DestinationRules, legacy RouteRules), watched, so the control plane runs without Kubernetes.
// Proxy documents in the files are ignored: proxies tell the control plane who they are.
package filereg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/model"
)

// DefaultInterval is how often the files are checked for changes.
const DefaultInterval = 250 * time.Millisecond

// Registry watches Files by polling modification time and size, which also sees files replaced
// by rename (editors, ConfigMap updates).
type Registry struct {
	Files    []string
	Interval time.Duration // default DefaultInterval
	Logger   *slog.Logger
}

var _ model.Registry = (*Registry)(nil)

// Run loads the files, pushes the state, and pushes again after every change until ctx ends. A
// load that fails is logged and the previous state stays; if the very first load fails, Run
// keeps trying on every change.
func (r *Registry) Run(ctx context.Context, push func(model.State)) error {
	if len(r.Files) == 0 {
		return errors.New("file registry: no files")
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	last := ""
	var good *model.State // the last state that loaded, re-pushed with the rejection noted
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if now := stamps(r.Files); now != last {
			last = now
			st, err := Load(r.Files...)
			if err != nil {
				log.Error("file registry: config rejected; keeping the previous state", "err", err)
				if good != nil {
					kept := *good
					kept.Rejected = []string{err.Error() + " (the last good config stays in force)"}
					push(kept)
				}
			} else {
				good = &st
				log.Info("file registry: loaded", "files", r.Files, "services", len(st.Services),
					"virtualServices", len(st.VirtualServices), "destinationRules", len(st.DestinationRules))
				push(st)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Load reads the files into a State, validated as the proxy would validate them.
func Load(files ...string) (model.State, error) {
	snap, err := config.Load(files...)
	if err != nil {
		return model.State{}, fmt.Errorf("file registry: %w", err)
	}
	if err := snap.Validate(); err != nil {
		return model.State{}, fmt.Errorf("file registry: %w", err)
	}
	return model.State{Services: snap.Services, VirtualServices: snap.VirtualServices, DestinationRules: snap.DestinationRules,
		PeerAuthentications: snap.PeerAuthentications, Credentials: snap.Credentials,
		AuthorizationPolicies: snap.AuthorizationPolicies, RequestAuthentications: snap.RequestAuthentications}, nil
}

func stamps(files []string) string {
	var b strings.Builder
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			fmt.Fprintf(&b, "%s:missing;", f)
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d;", f, fi.ModTime().UnixNano(), fi.Size())
	}
	return b.String()
}
