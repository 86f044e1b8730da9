package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// TestDownAsksFirst: `meshlab down` without --yes refuses when nobody can answer (stdin not a
// terminal), and in a terminal (tmux) does nothing unless the answer is yes; the sample
// playbook's scratch folder shows whether the reset ran.
func TestDownAsksFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sshd hosts and the real binary: not in -short")
	}
	l := startLab(t, 1, sshtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if r := l.run(ctx, "up"); r.code != exitOK {
		t.Fatalf("up: exit %d\n%s", r.code, r.stderr)
	}
	scratch := l.scratch(0)
	exists := func() bool { _, err := os.Stat(scratch); return err == nil }
	if !exists() {
		t.Fatalf("up left no %s", scratch)
	}

	// Not a terminal (a pipe): refused, nothing touched.
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetArgs([]string{"down", "--hosts", l.hosts, "--log-dir", l.logDir, "--playbook", "sample"})
	root.SetIn(strings.NewReader("yes\n")) // an answer in a pipe is not a confirmation
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(ctx)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("down without --yes in a pipe: %v (want a bad-input error naming --yes)", err)
	}
	t.Logf("down in a pipe: %v", err)
	if !exists() {
		t.Fatal("down without --yes reset the host")
	}

	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("the terminal half needs tmux (apt-get install -y tmux)")
	}
	bin := buildMeshlab(t)
	cmd := fmt.Sprintf("%s down --hosts %s --log-dir %s --playbook sample", bin, l.hosts, l.logDir)
	tt := startTmux(t, 120, 24, cmd)
	tt.waitFor("Type yes to go ahead")
	tt.text("no")
	tt.keys("Enter")
	screen := tt.waitFor("EXIT=")
	if !strings.Contains(screen, "down cancelled: nothing was changed") || !exists() {
		t.Fatalf("answering no: scratch exists=%v\n%s", exists(), screen)
	}
	tt = startTmux(t, 120, 24, cmd)
	tt.waitFor("h00", "Type yes to go ahead")
	tt.text("yes")
	tt.keys("Enter")
	if screen := tt.waitFor("EXIT=0"); exists() {
		t.Fatalf("answering yes did not reset the host:\n%s", screen)
	}
}
