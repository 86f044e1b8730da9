package capture

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Installer applies and removes capture rules in the caller's network namespace.
type Installer struct {
	Exec    Executor
	Variant Variant // a resolved back end (see Detector); "" means VariantSystem
	Log     *slog.Logger
}

func (in Installer) log() *slog.Logger {
	if in.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return in.Log
}

func (in Installer) variant() Variant {
	if in.Variant == "" {
		return VariantSystem
	}
	return in.Variant
}

// Install makes the tables hold exactly cfg's rules: one atomic iptables-restore --noflush per
// family, replacing whatever an earlier install left (so re-running never duplicates a rule).
// With IPv6 off, IPv6 rules left by an earlier install are removed.
func (in Installer) Install(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("capture config: %w", err)
	}
	for _, rs := range Build(cfg) {
		cur, err := in.read(ctx, rs.Family)
		if err != nil {
			return err
		}
		if err := in.restore(ctx, rs.Family, InstallText(rs, cur)); err != nil {
			return fmt.Errorf("install %s capture rules: %w", rs.Family, err)
		}
		in.log().Info("capture rules installed", "family", rs.Family.String(), "variant", string(in.variant()),
			"rules", len(rs.Rules), "replaced", cur.Installed())
	}
	if !cfg.IPv6 {
		if err := in.cleanFamily(ctx, IPv6, false); err != nil {
			return err
		}
	}
	return nil
}

// Cleanup removes meshlab's chains and the jumps to them from both families and touches
// nothing else; when nothing is installed it runs no restore at all. IPv6 errors are fatal
// only when ipv6 is true (a kernel without IPv6 cannot hold IPv6 rules to clean).
func (in Installer) Cleanup(ctx context.Context, ipv6 bool) error {
	if err := in.cleanFamily(ctx, IPv4, true); err != nil {
		return err
	}
	return in.cleanFamily(ctx, IPv6, ipv6)
}

func (in Installer) cleanFamily(ctx context.Context, f Family, mustWork bool) error {
	cur, err := in.read(ctx, f)
	if err != nil {
		if mustWork || ctx.Err() != nil {
			return err
		}
		in.log().Debug("skipping clean-up", "family", f.String(), "err", err)
		return nil
	}
	text := CleanupText(TableNAT, cur)
	if text == "" {
		in.log().Debug("no capture rules to remove", "family", f.String())
		return nil
	}
	if err := in.restore(ctx, f, text); err != nil {
		return fmt.Errorf("remove %s capture rules: %w", f, err)
	}
	in.log().Info("capture rules removed", "family", f.String(), "variant", string(in.variant()),
		"chains", len(cur.Chains), "jumps", len(cur.Jumps))
	return nil
}

// read returns what the nat table holds of meshlab's rules now.
func (in Installer) read(ctx context.Context, f Family) (State, error) {
	save := in.variant().Tool(f, "save")
	out, err := in.Exec.Run(ctx, Cmd{Name: save, Args: []string{"-t", TableNAT}})
	if err != nil {
		return State{}, fmt.Errorf("read %s nat table: %w", f, err)
	}
	return ParseSave(out, TableNAT), nil
}

func (in Installer) restore(ctx context.Context, f Family, text string) error {
	args := []string{"--noflush"}
	if in.variant() != VariantNFT {
		// Legacy iptables serialises writers on one machine-wide lock (shared by every network
		// namespace); wait for it rather than fail while kube-proxy or a CNI holds it.
		args = append(args, "-w", "10")
	}
	_, err := in.Exec.Run(ctx, Cmd{Name: in.variant().Tool(f, "restore"), Args: args, Stdin: text})
	return err
}

// PlanArgv turns the restore commands among cmds (as a Recorder saw them) into single iptables
// commands for people to read; it leaves out the read-only save commands.
func PlanArgv(cmds []Cmd) [][]string {
	var out [][]string
	for _, c := range cmds {
		tool, ok := strings.CutSuffix(c.Name, "-restore")
		if !ok {
			continue
		}
		out = append(out, RestoreArgv(tool, c.Stdin)...)
	}
	return out
}
