package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/cluster/phases"
	"github.com/meshlab/meshlab/lab"
	"github.com/meshlab/meshlab/lab/stack"
	"github.com/meshlab/meshlab/playbooks"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
)

// Flag names the wizard's summary repeats (nextFlags) and the tests use.
const (
	stackFlag        = "stack"
	stackTimeoutFlag = "stack-wait-timeout"
	verifyFlag       = "verify"
)

// labFlags are the flags of up, down, plan and the wizard. They only become lab.Options
// (options); what the options mean is the lab package's business.
type labFlags struct {
	hosts       string
	playbook    string
	concurrency int
	skipPhases  []string
	phase       string
	trustNew    bool
	knownHosts  string
	probe       bool

	bundle          string
	removePackages  bool
	force           bool
	yes             bool
	waitTimeout     time.Duration
	ignorePreflight []string

	stack        bool
	stackTimeout time.Duration
	verify       string
}

// bindCommon adds the flags every lab action has.
func (f *labFlags) bindCommon(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.hosts, "hosts", "", "hosts file (YAML; see examples/hosts.yaml)")
	fs.StringVar(&f.playbook, "playbook", lab.Playbook, "embedded playbook to run ("+lab.Playbook+": the lab; any other runs as it is)")
	fs.StringVar(&f.knownHosts, "known-hosts", "", "known_hosts file (default: the hosts file's ssh.knownHosts, else ~/.ssh/known_hosts)")
	fs.StringVar(&f.bundle, "bundle", "", "offline bundle `DIR` (made by meshlab cluster bundle build): install from it, never from the internet")
	_ = cmd.RegisterFlagCompletionFunc("playbook", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		names, _ := playbook.List(playbooks.FS)
		return names, cobra.ShellCompDirectiveNoFileComp
	})
}

// bindRun adds the flags of a run on hosts (up, down, plan; not the wizard, which asks).
func (f *labFlags) bindRun(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringSliceVar(&f.skipPhases, "skip-phases", nil, "phases to skip (comma-separated names)")
	fs.StringVar(&f.phase, "phase", "", "run only this phase (after connecting)")
	fs.IntVar(&f.concurrency, "concurrency", engine.DefaultConcurrency, "hosts worked on at once")
	fs.BoolVar(&f.trustNew, "trust-new-host-keys", false, "record the keys of hosts not yet in known_hosts (trust on first use)")
}

// bindUp adds what up (and plan, and the wizard) decide about the cluster and the stack.
func (f *labFlags) bindUp(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.DurationVar(&f.waitTimeout, "wait-timeout", phases.DefaultWaitTimeout, "how long to wait for Ready nodes and CoreDNS")
	fs.StringSliceVar(&f.ignorePreflight, "ignore-preflight-errors", nil, "kubeadm preflight checks to ignore (comma-separated names)")
	fs.BoolVar(&f.stack, stackFlag, true, "after the cluster, install the mesh, the addons and Bookinfo (the hosts file's components), verify them and print the lab's URLs; --stack=false stops after the cluster")
	fs.DurationVar(&f.stackTimeout, stackTimeoutFlag, stack.DefaultWaitTimeout, "with --stack: how long each rollout or addon may take to become ready")
	fs.StringVar(&f.verify, verifyFlag, string(stack.VerifyFull), "with --stack: run `meshlab verify bookinfo` at the end: full, quick or off")
}

// bindDown adds down's own flags.
func (f *labFlags) bindDown(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.removePackages, "remove-packages", false, "also remove kubeadm, kubelet, kubectl and the uploaded bundle")
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation (needed when stdin is not a terminal)")
}

// bindForce adds --force (up and down): meshlab refuses hosts it cannot prove it set up for
// this lab unless told otherwise.
func (f *labFlags) bindForce(cmd *cobra.Command, verb string) {
	cmd.Flags().BoolVar(&f.force, "force", false, "also "+verb+" hosts meshlab did not set up for this lab "+
		"(no ownership marker, another lab's, or another cluster's CA); without it such a host stops the run before anything changes")
}

// options turns the flags into the lab's options for the loaded hosts file.
func (f *labFlags) options(cmd *cobra.Command, g *globalOptions, l *inventory.Lab) (lab.Options, error) {
	o := lab.DefaultOptions()
	o.Lab, o.BaseDir, o.Playbook = l, g.logDir, f.playbook
	o.KnownHosts, o.TrustNewHostKeys, o.Concurrency = f.knownHosts, f.trustNew, f.concurrency
	o.SkipPhases, o.OnlyPhase, o.Probe = f.skipPhases, f.phase, f.probe
	o.Cluster = lab.ClusterOptions{Bundle: f.bundle, WaitTimeout: f.waitTimeout,
		IgnorePreflightErrors: f.ignorePreflight, RemovePackages: f.removePackages, Force: f.force}
	if o.Cluster.WaitTimeout == 0 {
		o.Cluster.WaitTimeout = phases.DefaultWaitTimeout
	}
	if cmd.Flags().Lookup(stackFlag) == nil { // down: the reset takes the whole cluster, stack included
		o.Stack.Enabled = false
		return o, nil
	}
	if f.concurrency < 1 && cmd.Flags().Lookup("concurrency") != nil {
		return o, fmt.Errorf("--concurrency must be at least 1, not %d", f.concurrency)
	}
	if f.stack && cmd.Flags().Changed(stackFlag) && f.playbook != lab.Playbook {
		return o, fmt.Errorf("--stack builds on the Kubernetes cluster: add --playbook %s", lab.Playbook)
	}
	if f.stackTimeout <= 0 {
		return o, fmt.Errorf("--%s must be positive, not %s", stackTimeoutFlag, f.stackTimeout)
	}
	mode, err := stack.ParseVerifyMode(f.verify)
	if err != nil {
		return o, fmt.Errorf("--%s: %w", verifyFlag, err)
	}
	o.Stack = lab.StackOptions{Enabled: f.stack, WaitTimeout: f.stackTimeout, Verify: mode, Version: version}
	return o, nil
}
