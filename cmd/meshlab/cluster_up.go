package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/cluster/phases"
	"github.com/meshlab/meshlab/provision/connect"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
)

// clusterOptions are the up/down/plan flags of the kubernetes playbook.
type clusterOptions struct {
	bundle          string
	removePackages  bool
	waitTimeout     time.Duration
	ignorePreflight []string
}

func (c *clusterOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.bundle, "bundle", "", "offline bundle `DIR` (made by meshlab cluster bundle build): install from it, never from the internet")
	f.DurationVar(&c.waitTimeout, "wait-timeout", phases.DefaultWaitTimeout, "how long to wait for Ready nodes and CoreDNS")
	f.StringSliceVar(&c.ignorePreflight, "ignore-preflight-errors", nil, "kubeadm preflight checks to ignore (comma-separated names)")
	if cmd.Name() == "down" {
		f.BoolVar(&c.removePackages, "remove-packages", false, "also remove kubeadm, kubelet, kubectl and the uploaded bundle")
	}
}

// phases returns the action's phases and the playbook vars they need. The kubernetes playbook
// gets its Go phases (cluster/phases) spliced in; any other playbook runs as it is.
func (c *clusterOptions) phases(action string, pb *playbook.Playbook, lab *inventory.Lab, baseDir string) (engine.Phases, map[string]any, error) {
	if pb.Name != phases.Playbook {
		if c.bundle != "" {
			return nil, nil, fmt.Errorf("--bundle is for the %s playbook, not %s (add --playbook %s)", phases.Playbook, pb.Name, phases.Playbook)
		}
		if action == "down" {
			return engine.DownPhases(pb), nil, nil
		}
		return engine.UpPhases(pb), nil, nil
	}
	dir, err := connect.LabDir(lab, baseDir)
	if err != nil {
		return nil, nil, err
	}
	o := phases.Options{Lab: lab, LabDir: dir, BundleDir: c.bundle, RemovePackages: c.removePackages,
		WaitTimeout: c.waitTimeout, IgnorePreflightErrors: c.ignorePreflight}
	if action == "down" {
		return phases.Down(pb, o)
	}
	return phases.Up(pb, o)
}
