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
