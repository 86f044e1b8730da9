package capture

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
)

// Variant is which iptables back end the rules go through. The kernel keeps legacy (x_tables)
// and nf_tables rules apart, and both apply to every packet, so the rules must go where the rest
// of the node's rules (kube-proxy, the CNI) already are, or their ordering is meaningless.
type Variant string

// The back ends. VariantSystem is whatever the plain "iptables" command is on this machine.
const (
	VariantNFT    Variant = "nft"
	VariantLegacy Variant = "legacy"
	VariantSystem Variant = "system"
)

// ParseVariant reads a --iptables flag value: auto (returned as ""), nft, legacy or system.
func ParseVariant(s string) (Variant, error) {
	switch v := Variant(strings.ToLower(strings.TrimSpace(s))); v {
	case "", "auto":
		return "", nil
	case VariantNFT, VariantLegacy, VariantSystem:
		return v, nil
	default:
		return "", fmt.Errorf("iptables variant %q: want auto, nft, legacy or system", s)
	}
}

// Tool returns the command name of one of the family's tools: "" (iptables itself), "save" or
// "restore", e.g. Tool(IPv6, "restore") = "ip6tables-nft-restore".
func (v Variant) Tool(f Family, suffix string) string {
	name := f.command()
	if v == VariantNFT || v == VariantLegacy {
		name += "-" + string(v)
	}
	if suffix != "" {
		name += "-" + suffix
	}
	return name
}

// Detector picks a Variant the way istio-init does: prefer the back end that already has
// rules in this network namespace, else iptables-nft if present, else legacy, else the
// system's iptables. A back end holding meshlab's own chains wins outright, so a re-install or
// clean-up always finds what an earlier run put there.
type Detector struct {
	Exec   Executor
	Exists func(cmd string) bool // nil: look in $PATH
	Log    *slog.Logger
}

// Detect runs only the read-only *-save commands.
func (d Detector) Detect(ctx context.Context) (Variant, error) {
	exists := d.Exists
	if exists == nil {
		exists = func(cmd string) bool { _, err := exec.LookPath(cmd); return err == nil }
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	type seen struct {
		v     Variant
		rules int
		ours  bool
	}
	var found []seen
	for _, v := range []Variant{VariantNFT, VariantLegacy} {
		save := v.Tool(IPv4, "save")
		if !exists(save) {
			continue
		}
		out, err := d.Exec.Run(ctx, Cmd{Name: save})
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			// A back end the kernel cannot serve (e.g. legacy without x_tables) is not a candidate.
			log.Debug("iptables variant unusable", "variant", v, "err", err)
			continue
		}
		s := seen{v: v}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "-A ") {
				s.rules++
			}
		}
		s.ours = ParseSave(out, TableNAT).Installed()
		found = append(found, s)
	}
	pick := func(ok func(seen) bool) (Variant, bool) {
		best := -1
		for i, s := range found { // nft is first, so it wins ties
			if ok(s) && (best < 0 || s.rules > found[best].rules) {
				best = i
			}
		}
		if best < 0 {
			return "", false
		}
		return found[best].v, true
	}
	if v, ok := pick(func(s seen) bool { return s.ours }); ok {
		log.Debug("iptables variant holds meshlab rules", "variant", v)
		return v, nil
	}
	if v, ok := pick(func(s seen) bool { return s.rules > 0 }); ok {
		log.Debug("iptables variant holds rules", "variant", v)
		return v, nil
	}
	if len(found) > 0 {
		return found[0].v, nil
	}
	if exists(VariantSystem.Tool(IPv4, "restore")) {
		return VariantSystem, nil
	}
	return "", fmt.Errorf("no usable iptables found (tried iptables-nft, iptables-legacy, iptables): install the iptables package")
}
