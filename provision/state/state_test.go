package state

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStoreRecordsAtomicallyWithPrivateModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "labs", "demo")
	s, err := Open(dir, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Open created %s before any write", dir)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.Record("node1", Key("files", "write"), "abc", at); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: DirMode, filepath.Join(dir, FileName): FileMode} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v mode %v, want %v", path, err, fi.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	s2, err := Open(dir, "demo")
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := s2.Done("node1", "files/write")
	if !ok || rec.Hash != "abc" || !rec.Done.Equal(at) {
		t.Errorf("reloaded record = %+v, %v", rec, ok)
	}
	if err := s2.Forget("node1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.Done("node1", "files/write"); ok {
		t.Error("Forget kept the record")
	}
}

func TestReadOnlyStoreNeverWrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	s, err := OpenReadOnly(dir, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Record("h", "p/t", "x", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("read-only store wrote %s", dir)
	}
}

func TestCorruptStateNamesFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("{nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, "demo")
	if err == nil || !strings.Contains(err.Error(), FileName) {
		t.Errorf("err = %v, want it to name the file", err)
	}
}

func TestLogsRedactAndTimestamp(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLogs(dir, NewRedactor("s3cret", ""))
	if err != nil {
		t.Fatal(err)
	}
	l.Host("node/1", "password is %s\nsecond line", "s3cret")
	l.Logger().Info("run", "value", "s3cret")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(l.HostPath("node/1"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "[redacted]") || strings.Count(got, "Z ") != 2 {
		t.Errorf("host log:\n%s", got)
	}
	if filepath.Base(l.HostPath("node/1")) != "node_1.log" {
		t.Errorf("unsafe host log name %s", l.HostPath("node/1"))
	}
	run, _ := os.ReadFile(l.RunPath())
	if strings.Contains(string(run), "s3cret") {
		t.Errorf("run log leaks the secret: %s", run)
	}
	fi, _ := os.Stat(l.HostPath("node/1"))
	if fi.Mode().Perm() != FileMode {
		t.Errorf("log mode %v", fi.Mode().Perm())
	}
}

func TestConcurrentRecordsAllReachDisk(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, "demo")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for h := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for task := range 5 {
				if err := s.Record(fmt.Sprintf("h%d", h), fmt.Sprintf("p/t%d", task), "x", time.Now()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	s2, err := Open(dir, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for h := range 20 {
		for task := range 5 {
			if _, ok := s2.Done(fmt.Sprintf("h%d", h), fmt.Sprintf("p/t%d", task)); !ok {
				t.Errorf("h%d p/t%d not on disk", h, task)
			}
		}
	}
}

// kubeadm init without --skip-token-print ends like this; a token create prints the bare token.
const kubeadmInitTail = `Then you can join any number of worker nodes by running the following on each as root:

kubeadm join 10.0.0.2:6443 --token abcdef.0123456789abcdef \
	--discovery-token-ca-cert-hash sha256:6c4e1bd7b3ab3b4a1c22f6e5f05b10d0ad5f2d1e4a2e8d4c2e9b0ffb6e6a9c01
`

func TestRedactorHidesBootstrapTokens(t *testing.T) {
	r := NewRedactor()
	for _, tc := range []struct{ in, leak, keep string }{
		{kubeadmInitTail, "abcdef.0123456789abcdef", "sha256:6c4e1bd7b3ab3b4a1c22f6e5f05b10d0ad5f2d1e4a2e8d4c2e9b0ffb6e6a9c01"},
		{"9x8y7z.q1w2e3r4t5y6u7i8\n", "9x8y7z.q1w2e3r4t5y6u7i8", ""},
		{"kubeadm join x --token=whatever-it-is --v=5", "whatever-it-is", "--v=5"},
		{"kubeadm join x --discovery-token  n0tAt0ken", "n0tAt0ken", ""},
		{"kubeadm init phase upload-certs --certificate-key 0123abcd", "0123abcd", ""},
		{"  token: ab12cd.ef34gh56ij78kl90", "ab12cd.ef34gh56ij78kl90", "token:"},
	} {
		got := r.Redact(tc.in)
		if strings.Contains(got, tc.leak) || !strings.Contains(got, "redacted") || !strings.Contains(got, tc.keep) {
			t.Errorf("Redact(%q) = %q: want %q hidden and %q kept", tc.in, got, tc.leak, tc.keep)
		}
	}
	// Not tokens: image digests, versions, host names with short labels.
	for _, s := range []string{"registry.k8s.io/pause:3.10.1", "sha256:0123456789abcdef0123456789abcdef", "cp1.e2es.meshlab.internal", "Abcdef.0123456789ABCDEF"} {
		if got := r.Redact(s); got != s {
			t.Errorf("Redact(%q) = %q: not a secret", s, got)
		}
	}
	var nilR *Redactor
	if got := nilR.Redact(kubeadmInitTail); strings.Contains(got, "abcdef.0123456789abcdef") {
		t.Errorf("a nil redactor let the token through: %q", got)
	}
}

func TestRedactorLongerSecretFirst(t *testing.T) {
	// "pw" is part of "pw-and-more": replacing the short one first would leave "-and-more" behind.
	r := NewRedactor("pw", "pw-and-more")
	if got := r.Redact("sudo pw-and-more then pw"); got != "sudo [redacted] then [redacted]" {
		t.Errorf("Redact = %q", got)
	}
}
