package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// testLab is a lab of real sshd hosts on loopback described by a hosts file.
type testLab struct {
	name    string
	servers []*sshtest.Server
	hosts   string // hosts file path
	logDir  string // --log-dir
	extra   string // extra YAML under ssh:
}

// startLab starts n sshd servers (each a "host") and writes a hosts file for them. h00 is the
// control plane, the rest are workers. The sample playbook's scratch folder of the lab is
// removed at cleanup.
func startLab(t testing.TB, n int, opts sshtest.Options) *testLab {
	t.Helper()
	l := &testLab{name: "t-" + strings.ToLower(rand.Text()[:10]), logDir: t.TempDir()}
	for range n {
		l.servers = append(l.servers, sshtest.Start(t, opts))
	}
	l.hosts = filepath.Join(t.TempDir(), "hosts.yaml")
	l.writeHosts(t)
	home := "/root"
	if opts.User != "" && opts.User != "root" {
		home = "/home/" + opts.User
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Join(home, ".meshlab-sample", l.name)) })
	return l
}

// writeHosts (re)writes the hosts file and a known_hosts file with every server's key.
func (l *testLab) writeHosts(t testing.TB) {
	t.Helper()
	var known, hosts strings.Builder
	for i, s := range l.servers {
		known.WriteString(s.KnownHostsLine + "\n")
		role := "worker"
		if i == 0 {
			role = "control-plane"
		}
		fmt.Fprintf(&hosts, "  - {name: h%02d, address: %s, port: %d, user: %s, keyPath: %s, role: %s}\n",
			i, s.Host, s.Port, s.User, s.KeyPath, role)
	}
	knownPath := filepath.Join(filepath.Dir(l.hosts), "known_hosts")
	if err := os.WriteFile(knownPath, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf("name: %s\nssh:\n  agent: false\n  knownHosts: %s\n%shosts:\n%s", l.name, knownPath, l.extra, hosts.String())
	if err := os.WriteFile(l.hosts, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
}

// scratch is the sample playbook's folder for host i.
func (l *testLab) scratch(i int) string {
	home := "/root"
	if u := l.servers[i].User; u != "root" {
		home = "/home/" + u
	}
	return filepath.Join(home, ".meshlab-sample", l.name, fmt.Sprintf("h%02d", i))
}

// labDir is where the lab's state and logs go.
func (l *testLab) labDir() string { return filepath.Join(l.logDir, l.name) }

// result of one in-process meshlab run.
type result struct {
	stdout, stderr string
	code           int
}

// meshlab runs the CLI in-process with args and returns its output and exit code, mapped the
// way main maps errors.
func meshlab(ctx context.Context, args ...string) result {
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(ctx)
	r := result{stdout: out.String(), code: exitOK}
	if err != nil {
		errb.WriteString("meshlab: " + err.Error() + "\n")
		r.code = exitFailure
		var ue usageError
		if errors.As(err, &ue) {
			r.code = exitBadInput
		}
	}
	r.stderr = errb.String()
	return r
}

// run runs `meshlab <action>` on the lab with extra flags.
// run runs an action on the lab; these sshd hosts are not machines, so the sample playbook is
// the default here (the product's default is the kubernetes playbook).
func (l *testLab) run(ctx context.Context, action string, flags ...string) result {
	if !slices.Contains(flags, "--playbook") {
		flags = append(flags, "--playbook", "sample")
	}
	return meshlab(ctx, append([]string{action, "--hosts", l.hosts, "--log-dir", l.logDir}, flags...)...)
}
