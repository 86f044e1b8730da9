package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/playbooks"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
)

// stackCmd is a command like `up` with the --stack flags, after parsing args.
func stackCmd(t *testing.T, name string, args ...string) *cobra.Command {
	t.Helper()
	cmd := &cobra.Command{Use: name}
	bindStackFlags(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestAppendStack(t *testing.T) {
	lab, err := inventory.Load("../../examples/hosts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k8s, err := playbook.Load(playbooks.FS, "kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	base := engine.UpPhases(k8s)
	dir := t.TempDir()

	same, err := appendStack(stackCmd(t, "up", "--stack=false"), base, k8s, lab, dir, "")
	if err != nil || len(same) != len(base) {
		t.Fatalf("--stack=false: %d phases (want %d), %v", len(same), len(base), err)
	}
	// A command without the flags at all (down, plan before wiring) is left alone too.
	if same, err = appendStack(&cobra.Command{Use: "down"}, base, k8s, lab, dir, ""); err != nil || len(same) != len(base) {
		t.Fatalf("command without the flag: %d phases, %v", len(same), err)
	}

	all, err := appendStack(stackCmd(t, "up"), base, k8s, lab, dir, "") // on by default
	if err != nil {
		t.Fatal(err)
	}
	want := append(base.Names(), "mesh-image", "mesh-image-load", "mesh", "addons", "bookinfo", "verify", "summary")
	if !slices.Equal(all.Names(), want) {
		t.Fatalf("phases %v, want %v", all.Names(), want)
	}

	sample, err := playbook.Load(playbooks.FS, "sample")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appendStack(stackCmd(t, "up", "--stack"), base, sample, lab, dir, ""); err == nil || !strings.Contains(err.Error(), "--playbook kubernetes") {
		t.Fatalf("sample playbook with --stack: %v", err)
	}
	// The defaulted --stack leaves another playbook, and down, alone.
	if same, err := appendStack(stackCmd(t, "up"), base, sample, lab, dir, ""); err != nil || len(same) != len(base) {
		t.Fatalf("sample playbook, --stack defaulted: %d phases, %v", len(same), err)
	}
	if same, err := appendStack(stackCmd(t, "down"), base, k8s, lab, dir, ""); err != nil || len(same) != len(base) {
		t.Fatalf("down, --stack defaulted: %d phases, %v", len(same), err)
	}
	if _, err := appendStack(stackCmd(t, "down", "--stack"), base, k8s, lab, dir, ""); err == nil {
		t.Fatal("down --stack was accepted")
	}
	if _, err := appendStack(stackCmd(t, "up", "--stack", "--stack-wait-timeout", "0s"), base, k8s, lab, dir, ""); err == nil {
		t.Fatal("a zero timeout was accepted")
	}
	if _, err := appendStack(stackCmd(t, "up", "--stack", "--verify", "fast"), base, k8s, lab, dir, ""); err == nil ||
		!strings.Contains(err.Error(), "--verify") || !strings.Contains(err.Error(), "full, quick or off") {
		t.Fatalf("--verify fast: %v", err)
	}
}
