package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/cluster/phases"
	"github.com/meshlab/meshlab/cluster/stack"
	"github.com/meshlab/meshlab/provision/connect"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
)

// The --stack flags of `meshlab up` (and `meshlab plan`, and the wizard): after the cluster,
// the mesh, addons, Bookinfo, `meshlab verify bookinfo` and a summary (cluster/stack). On by
// default with the kubernetes playbook; --stack=false stops after the cluster. What the stack
// installs is the hosts file's components.
//
// Wiring (two hook lines the command files call):
//
//	up.go newUpCmd, after o.bind(cmd):           bindStackFlags(cmd)
//	up.go runAction, after o.cluster.phases(...): if phases, err = appendStack(cmd, phases, pb, lab, g.logDir, o.cluster.bundle); err != nil { return badInput(err) }
const (
	stackFlag        = "stack"
	stackTimeoutFlag = "stack-wait-timeout"
	verifyFlag       = "verify"
)

// bindStackFlags adds --stack and its timeout to an action command.
func bindStackFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Bool(stackFlag, true, "after the cluster, install the mesh, the addons and Bookinfo (the hosts file's components), verify them and print the lab's URLs; --stack=false stops after the cluster")
	f.Duration(stackTimeoutFlag, stack.DefaultWaitTimeout, "with --stack: how long each rollout or addon may take to become ready")
	f.String(verifyFlag, string(stack.VerifyFull), "with --stack: run `meshlab verify bookinfo` at the end: full, quick (smoke checks) or off")
}

// appendStack appends the stack phases to the cluster's when --stack is on (the default) and the
// playbook is the kubernetes one; otherwise (or on a command without the flag) it returns ps
// unchanged. An explicit --stack with another playbook is an error, a defaulted one is not.
func appendStack(cmd *cobra.Command, ps engine.Phases, pb *playbook.Playbook, lab *inventory.Lab, baseDir, bundleDir string) (engine.Phases, error) {
	if on, _ := cmd.Flags().GetBool(stackFlag); !on { // also false on a command without the flag
		return ps, nil
	}
	explicit := cmd.Flags().Changed(stackFlag)
	if cmd.Name() == "down" {
		if explicit {
			return nil, fmt.Errorf("--stack is for up and plan: down resets the whole cluster, stack included")
		}
		return ps, nil
	}
	if pb.Name != phases.Playbook {
		if explicit {
			return nil, fmt.Errorf("--stack builds on the Kubernetes cluster: add --playbook %s", phases.Playbook)
		}
		return ps, nil
	}
	timeout, _ := cmd.Flags().GetDuration(stackTimeoutFlag)
	if timeout <= 0 {
		return nil, fmt.Errorf("--%s must be positive, not %s", stackTimeoutFlag, timeout)
	}
	mode, _ := cmd.Flags().GetString(verifyFlag)
	verifyMode, err := stack.ParseVerifyMode(mode)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", verifyFlag, err)
	}
	dir, err := connect.LabDir(lab, baseDir)
	if err != nil {
		return nil, err
	}
	more, err := stack.Stack(stack.Options{Lab: lab, LabDir: dir, BundleDir: bundleDir, Version: version,
		WaitTimeout: timeout, Verify: verifyMode})
	if err != nil {
		return nil, err
	}
	return append(append(engine.Phases{}, ps...), more...), nil
}
