package stack

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sync/errgroup"

	"github.com/meshlab/meshlab/mesh/install"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/transport"
)

// SideLoad imports the meshlab image into containerd on every node, so no registry is needed.
// A marker file on the node names the tarball last imported; the image must also still be in
// containerd (someone may have pruned it) for the node to count as done.
type SideLoad struct{ plan *plan }

func (*SideLoad) Title() string { return "Side-load the meshlab image to every node" }
func (*SideLoad) Name() string  { return "mesh-image-load" }

func (s *SideLoad) ShouldRun(*engine.Run) bool { return s.plan.needsMeshImage() }

const sideLoadTask = "Import the meshlab image into containerd"

func (s *SideLoad) Run(ctx context.Context, r *engine.Run) error {
	_, tar, err := s.plan.imageTarball()
	if err != nil {
		return newTask(r, nil, "mesh-image-load", sideLoadTask).fail("", err)
	}
	name, ref := filepath.Base(tar), s.plan.image()
	g, ctx := errgroup.WithContext(ctx)
	limit := r.Concurrency
	if limit <= 0 {
		limit = engine.DefaultConcurrency
	}
	g.SetLimit(limit)
	errs := make([]error, len(r.Hosts))
	for i, h := range r.Hosts {
		g.Go(func() error {
			errs[i] = s.loadOne(ctx, r, h, tar, name, ref)
			return nil // every node is tried
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

func (s *SideLoad) loadOne(ctx context.Context, r *engine.Run, h *engine.Host, tar, name, ref string) error {
	t := newTask(r, h, "mesh-image-load", sideLoadTask)
	if h.Transport == nil {
		return t.fail("the connect phase did not run", fmt.Errorf("no connection to %s", h.Name))
	}
	has, err := install.HasImage(ctx, h.Transport, s.plan.marker(), name, ref)
	switch {
	case err != nil:
		return t.fail("", err)
	case has:
		t.Skip("")
		return nil
	}
	t.Begin(ref)
	if err := install.SideLoad(ctx, []transport.Transport{h.Transport}, tar, nil); err != nil {
		return t.fail("containerd must run on the node (the cluster phases set it up)", err)
	}
	if err := install.MarkImage(ctx, h.Transport, s.plan.marker(), name); err != nil {
		return t.fail("", err)
	}
	t.Done(ref)
	return nil
}

func (s *SideLoad) DryRun(_ context.Context, r *engine.Run) error {
	_, tar, err := s.plan.imageTarball()
	if err != nil { // the image phase's plan says what is missing
		tar = "the meshlab image"
	}
	for _, h := range r.Hosts {
		newTask(r, h, "mesh-image-load", sideLoadTask).Plan(fmt.Sprintf("would upload %s and import %s into containerd (k8s.io)", filepath.Base(tar), s.plan.image()))
	}
	return nil
}

// marker is install.ImageMarker, or the tests' own file.
func (p *plan) marker() string {
	if p.markerPath != "" {
		return p.markerPath
	}
	return install.ImageMarker
}
