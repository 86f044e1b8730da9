package transport

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// rootDir is a directory only root may write to, like /etc.
func rootDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSSHPutGet(t *testing.T) {
	for _, tc := range []struct {
		name, user string
		upload     func(dir string) Upload
		wantOwner  string
	}{
		{"root with mode and owner", "root",
			func(dir string) Upload {
				return Upload{Path: dir + "/a file", Mode: 0o640, Owner: sshtest.UserSudoNoPassword + ":" + sshtest.UserSudoNoPassword}
			},
			sshtest.UserSudoNoPassword},
		{"sudo install into a root directory", sshtest.UserSudoPassword,
			func(dir string) Upload { return Upload{Path: dir + "/conf", Mode: 0o600, Become: true} }, "root"},
		{"sudo install with owner", sshtest.UserSudoNoPassword,
			func(dir string) Upload {
				return Upload{Path: dir + "/it's", Mode: 0o644, Owner: sshtest.UserSudoPassword, Become: true}
			},
			sshtest.UserSudoPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := sshtest.EnsureUsers(); err != nil {
				t.Skip(err)
			}
			srv := sshtest.Start(t, sshtest.Options{User: tc.user})
			cfg := configFor(srv)
			cfg.SudoPassword = srv.Password
			s := dialT(t, cfg)
			u := tc.upload(rootDir(t))
			data := bytes.Repeat([]byte("meshlab\n"), 100000)
			if err := s.Put(testCtx(t), bytes.NewReader(data), u); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(u.Path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != u.Mode {
				t.Errorf("mode = %v, want %v", st.Mode().Perm(), u.Mode)
			}
			if got := strings.TrimSpace(mustRun(t, s, Cmd{Command: "stat -c %U " + Quote(u.Path), Become: u.Become}).Stdout); got != tc.wantOwner {
				t.Errorf("owner = %s, want %s", got, tc.wantOwner)
			}
			got, err := s.Get(testCtx(t), u.Path, true)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get = %d bytes, %v; want the %d bytes put", len(got), err, len(data))
			}
			entries, _ := os.ReadDir(filepath.Dir(u.Path))
			if len(entries) != 1 {
				t.Errorf("temporary files left beside the target: %v", entries)
			}
		})
	}
}

// While an upload is in flight the target keeps its old content: no partial file is visible.
func TestSSHPutAtomic(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	s := dialT(t, configFor(srv))
	dir, err := os.MkdirTemp("", "meshlab-put-atomic-") // t.TempDir's parent is 0700 root
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil { // writable by the login user
		t.Fatal(err)
	}
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("old\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := s.Put(testCtx(t), pr, Upload{Path: target, Mode: 0o644})
		pr.CloseWithError(errors.New("Put returned")) // unblock our writes if it failed early
		done <- err
	}()
	half := bytes.Repeat([]byte("n"), 1<<20)
	// Once Put has consumed the first half, the upload is in flight, blocked on our pipe.
	if _, err := pw.Write(half); err != nil {
		t.Fatalf("upload stopped early: %v", <-done)
	}
	if got, _ := os.ReadFile(target); string(got) != "old\n" {
		t.Fatalf("target changed mid-upload: %d bytes", len(got))
	}
	if _, err := pw.Write(half); err != nil {
		t.Fatalf("upload stopped early: %v", <-done)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); len(got) != 2<<20 {
		t.Fatalf("target has %d bytes, want %d", len(got), 2<<20)
	}
}

func TestSSHPutRejectsBadInput(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	s := dialT(t, configFor(srv))
	for _, p := range []string{"relative/path", "/dir/", "/nul\x00byte"} {
		if err := s.Put(testCtx(t), strings.NewReader(""), Upload{Path: p}); err == nil {
			t.Errorf("Put(%q) succeeded", p)
		}
	}
	_, err := s.Get(testCtx(t), "/nonexistent/file", false)
	if err == nil || errors.Is(err, ErrConnection) {
		t.Errorf("Get of a missing file: %v", err)
	}
}
