package bundle

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer the reporter's goroutine and the test can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestReportBuild: a component says what it compiles and how long that usually takes before it
// starts, then says it is still going until it is done, and nothing after.
func TestReportBuild(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	var k8s component
	for _, c := range components() {
		if c.Dir == "kubernetes" {
			k8s = c
		}
	}
	done := reportBuild(log, k8s, "v1.34.2", 10*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "still compiling") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	done()
	got := out.String()
	for _, want := range []string{"msg=compiling component=kubernetes version=v1.34.2", "kubeadm,kubelet,kubectl", `cold="about 8m0s on 2 cores`, `msg="still compiling" component=kubernetes elapsed=`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	after := len(out.String())
	time.Sleep(50 * time.Millisecond)
	if len(out.String()) != after {
		t.Errorf("the reporter went on after done():\n%s", out.String()[after:])
	}
}

// TestEveryComponentHasAColdEstimate: a component added without an estimate would build in silence.
func TestEveryComponentHasAColdEstimate(t *testing.T) {
	for _, c := range components() {
		if coldBuild[c.Dir] <= 0 {
			t.Errorf("component %s has no cold build estimate in coldBuild", c.Dir)
		}
	}
}
