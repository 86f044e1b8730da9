package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func runMeshInit(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"mesh", "init"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestMeshInitDryRun(t *testing.T) {
	out, err := runMeshInit(t, "--dry-run", "-o", "22", "--ipv6")
	if err != nil {
		t.Fatalf("mesh init --dry-run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"iptables -t nat -N MESHLAB_INBOUND\n",
		"iptables -t nat -A MESHLAB_OUTPUT -p tcp --dport 22 -j RETURN\n",
		"iptables -t nat -A MESHLAB_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n",
		"ip6tables -t nat -A MESHLAB_OUTPUT -o lo -s ::6/128 -j RETURN\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
	out, err = runMeshInit(t, "--dry-run", "--restore-format", "--iptables", "legacy")
	if err != nil || !strings.HasPrefix(out, "# iptables-legacy-restore --noflush -w 10\n*nat\n") {
		t.Fatalf("--restore-format: %v\n%s", err, out)
	}
	out, err = runMeshInit(t, "--dry-run", "--clean")
	if err != nil || !strings.Contains(out, "iptables -t nat -X MESHLAB_OUTPUT\n") {
		t.Fatalf("--dry-run --clean: %v\n%s", err, out)
	}
}

func TestMeshInitBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"-p", "abc", "--dry-run"},
		{"-m", "TPROXY", "--dry-run"},
		{"-i", "10.0.0.0/40", "--dry-run"},
		{"--iptables", "bogus", "--dry-run"},
		{"--restore-format"},
		{"--no-such-flag"},
	} {
		_, err := runMeshInit(t, args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("mesh init %v: error %v is not bad input (exit 2)", args, err)
		}
	}
}
