package connect

import (
	"fmt"

	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/state"
)

// RunOptions shape one action on a lab.
type RunOptions struct {
	Options
	Action string // up, down, plan
	// Dir is the lab's folder: state and logs are kept there.
	Dir         state.LabDir
	Sink        event.Sink
	Concurrency int
	Vars        map[string]any
	// DryRun (plan) changes nothing: state is read, never written, and no log files are made.
	// Probe lets a dry run connect and run guards.
	DryRun, Probe bool
}

// NewRun prepares an engine run for the lab: hosts, dialer, secrets for redaction, state and logs.
// The returned close function flushes and closes the log files.
func NewRun(lab *inventory.Lab, o RunOptions) (*engine.Run, func() error, error) {
	if o.Dir == "" {
		return nil, nil, fmt.Errorf("lab %s: no lab folder", lab.Name)
	}
	dir := o.Dir.Path()
	var err error
	r := &engine.Run{
		Action: o.Action, Lab: lab.Name, LabData: lab, Versions: lab.Versions, Vars: o.Vars,
		Hosts: Hosts(lab), Sink: o.Sink, Concurrency: o.Concurrency, DryRun: o.DryRun, Probe: o.Probe,
	}
	closeFn := func() error { return nil }
	if o.DryRun {
		if r.State, err = state.OpenReadOnly(dir, lab.Name); err != nil {
			return nil, nil, err
		}
		if !o.Probe {
			return r, closeFn, nil // touches nothing: no secrets read, no connection
		}
	} else if r.State, err = state.Open(dir, lab.Name); err != nil {
		return nil, nil, err
	}
	sec, err := ResolveSecrets(lab)
	if err != nil {
		return nil, nil, err
	}
	r.Redact = state.NewRedactor(sec.All()...)
	if !o.DryRun {
		if r.Logs, err = state.OpenLogs(dir, r.Redact); err != nil {
			return nil, nil, err
		}
		r.Log = r.Logs.Logger()
		closeFn = r.Logs.Close
	}
	if o.Logger == nil {
		o.Logger = r.Log
	}
	r.Dial = Dialer(lab, sec, o.Options)
	return r, closeFn, nil
}
