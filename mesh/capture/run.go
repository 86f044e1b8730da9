package capture

import (
	"context"
	"fmt"
	"log/slog"
)

// Action is what a run does: install the rules, or remove them.
type Action int

// The actions.
const (
	ActionInstall Action = iota
	ActionCleanup
)

// Apply installs or removes the rules in the caller's network namespace with the real
// iptables tools, detecting the back end when variant is "" (auto). It returns the back end used.
func Apply(ctx context.Context, cfg Config, variant Variant, action Action, log *slog.Logger) (Variant, error) {
	ex := OSExecutor{}
	if variant == "" {
		v, err := Detector{Exec: ex, Log: log}.Detect(ctx)
		if err != nil {
			return "", fmt.Errorf("detect iptables back end: %w", err)
		}
		variant = v
	}
	in := Installer{Exec: ex, Variant: variant, Log: log}
	if action == ActionCleanup {
		return variant, in.Cleanup(ctx, cfg.IPv6)
	}
	return variant, in.Install(ctx, cfg)
}

// Plan walks the same code as Apply against a Recorder and returns the restore commands it
// would run (stdin holds the rules). Nothing is read from the machine: an install is planned
// over empty tables, a clean-up over tables holding exactly cfg's rules. With variant ""
// the plain iptables command names are shown.
func Plan(ctx context.Context, cfg Config, variant Variant, action Action) ([]Cmd, error) {
	if variant == "" {
		variant = VariantSystem
	}
	rec := &Recorder{}
	in := Installer{Exec: rec, Variant: variant}
	var err error
	if action == ActionCleanup {
		for _, rs := range Build(cfg) {
			rec.Answer(Cmd{Name: variant.Tool(rs.Family, "save"), Args: []string{"-t", TableNAT}}.String(),
				[]byte(InstallText(rs, State{})))
		}
		err = in.Cleanup(ctx, cfg.IPv6)
	} else {
		err = in.Install(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	var restores []Cmd
	for _, c := range rec.Commands() {
		if c.Stdin != "" {
			restores = append(restores, c)
		}
	}
	return restores, nil
}
