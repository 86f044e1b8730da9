package filereg

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/pilot/model"
)

const registry = "../../config/testdata/bookinfo-registry.yaml"

func TestRunPushesOnStartAndOnChangeOnly(t *testing.T) {
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	write := func(content string) {
		tmp := routes + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, routes); err != nil {
			t.Fatal(err)
		}
	}
	write(vs("v1"))
	pushes := make(chan model.State, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&Registry{Files: []string{registry, routes}, Interval: 10 * time.Millisecond}).Run(ctx, func(s model.State) { pushes <- s })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	next := func() model.State {
		t.Helper()
		select {
		case s := <-pushes:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no push within 10 s")
		}
		return model.State{}
	}
	if s := next(); len(s.Services) != 4 || len(s.VirtualServices) != 1 {
		t.Fatalf("first state: %d services, %d virtual services", len(s.Services), len(s.VirtualServices))
	}
	write("kind: Nonsense\n")            // rejected: no push, the pilot keeps the previous state
	write(vs("v2") + "---\n" + vs("v3")) // the same name twice: the later one wins, as kubectl apply
	s := next()
	if got := s.VirtualServices[0].Spec.Http[0].Route[0].Destination.Subset; got != "v3" {
		t.Fatalf("after the change: subset %q, want v3", got)
	}
	if len(pushes) != 0 {
		t.Fatalf("%d extra pushes", len(pushes))
	}
}

func vs(subset string) string {
	return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: ` + subset + `}
`
}
