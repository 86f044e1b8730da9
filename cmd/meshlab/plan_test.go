package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestPlanTouchesNothing: plan prints every host's tasks, opens no connection (the hosts point at
// a listener that counts accepted connections) and writes nothing to the log dir.
func TestPlanTouchesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts.yaml")
	doc := fmt.Sprintf("name: plan-test\nssh: {agent: false}\nhosts:\n  - root@127.0.0.1:%d control-plane\n  - root@127.0.0.2:%d worker\n", port, port)
	if err := os.WriteFile(hosts, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "state")
	r := meshlab(context.Background(), "plan", "--hosts", hosts, "--log-dir", logDir, "--playbook", "sample")
	if r.code != exitOK {
		t.Fatalf("plan exit %d: %s", r.code, r.stderr)
	}
	if n := strings.Count(r.stdout, "  would run"); n != 2*sampleTasks-1 {
		t.Errorf("plan lines = %d, want %d:\n%s", n, 2*sampleTasks-1, r.stdout)
	}
	// The default: the kubernetes playbook and the whole stack after it.
	r = meshlab(context.Background(), "plan", "--hosts", hosts, "--log-dir", logDir)
	if r.code != exitOK {
		t.Fatalf("plan (default playbook) exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"kubeadm", "meshlab verify bookinfo", "productpage"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the default plan does not mention %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat(logDir); !os.IsNotExist(err) {
		t.Errorf("plan created %s (stat: %v)", logDir, err)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("plan opened %d connection(s)", n)
	}
}

// TestPlanExample: the README's command works on a fresh machine.
func TestPlanExample(t *testing.T) {
	r := meshlab(context.Background(), "plan", "--hosts", "../../examples/hosts.yaml", "--log-dir", t.TempDir())
	if r.code != exitOK || !strings.Contains(r.stdout, "[cp1]") {
		t.Fatalf("plan examples/hosts.yaml: exit %d\n%s\n%s", r.code, r.stderr, r.stdout)
	}
}
