package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// TestSecretsNeverLeak runs the sample playbook as a user whose key is encrypted and whose sudo
// needs a password (the playbook has a become task), with -v and in both output modes, and checks
// that neither secret appears in stdout, stderr, any file under the lab's folder, or the argv of
// any process on the machine during the run.
func TestSecretsNeverLeak(t *testing.T) {
	const passphrase = "key-Passphrase-for-meshlab-test-91"
	l := startLab(t, 2, sshtest.Options{User: sshtest.UserSudoPassword, KeyPassphrase: passphrase})
	t.Setenv("MESHLAB_TEST_PASSPHRASE", passphrase)
	t.Setenv("MESHLAB_TEST_SUDO", sshtest.TestPassword)
	l.extra = "  keyPassphrase: {env: MESHLAB_TEST_PASSPHRASE}\n  sudoPassword: {env: MESHLAB_TEST_SUDO}\n  sudo: auto\n"
	l.writeHosts(t)
	secrets := []string{passphrase, sshtest.TestPassword}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stop := sshtest.WatchArgv(ctx, secrets...)
	runs := []result{
		l.run(ctx, "up", "-vv", "--output", "json"),
		l.run(ctx, "down", "--yes", "-vv"),
		l.run(ctx, "up", "-vv"),
	}
	leaks := stop()
	for i, r := range runs {
		if r.code != exitOK {
			t.Fatalf("run %d: exit %d\n%s\n%s", i, r.code, r.stderr, r.stdout)
		}
		for _, s := range secrets {
			if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
				t.Errorf("run %d: a secret appears in the output", i)
			}
		}
	}
	// down forgot the recorded tasks, so the second up did the work again.
	if !strings.Contains(runs[2].stdout, "[h00] facts › Report the system ... ok") {
		t.Errorf("up after down skipped recorded work:\n%s", runs[2].stdout)
	}
	if !strings.Contains(runs[0].stdout, `"task":"Check root access"`) {
		t.Fatalf("the become task did not run:\n%s", runs[0].stdout)
	}
	for _, lk := range leaks {
		t.Errorf("secret in argv of pid %d: %s", lk.PID, lk.Argv)
	}
	files := 0
	err := filepath.WalkDir(l.labDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("a secret appears in %s", path)
			}
		}
		return nil
	})
	if err != nil || files < 3 {
		t.Errorf("walk %s: %v (%d files; want state.json and logs)", l.labDir(), err, files)
	}
}
