package locallab

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/state"
)

// Destroy removes a lab and everything it made on this host: its machines (only the containers
// in the lab's own runc root), their mounts, network namespaces and veths, the bridge, the
// routing rule and FORWARD rules, the cgroups runc leaves and the lab's folder. It finds the
// pieces by their derived names, not by the recorded state, so a half-created lab goes too; a lab
// that does not exist is not an error.
func (m *Manager) Destroy(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	n := namesFor(name)
	p := m.paths(name)
	var errs []error
	errs = append(errs, m.stopForwarder(name, p))
	ids, err := labContainers(name)
	errs = append(errs, err)
	for _, id := range ids {
		m.emit(event.Log, name, "", "stopping "+id)
		errs = append(errs, removeContainer(ctx, m.r, name, id))
	}
	errs = append(errs, unmountAll(p.dir))
	nss, err := labNamespaces(n)
	errs = append(errs, err)
	for _, ns := range nss {
		errs = append(errs, removeMachineNetwork(ctx, m.r, ns, ""))
	}
	for _, veth := range labHostVeths(n) {
		errs = append(errs, removeMachineNetwork(ctx, m.r, "", veth))
	}
	errs = append(errs, removeMachineNetwork(ctx, m.r, n.natNamespace(), ""))
	errs = append(errs, removeLabNetwork(ctx, m.r, n))
	removeCgroups(name)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy lab %s: %w", name, err)
	}
	if err := os.Remove(runcRoot(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("destroy lab %s: runc state: %w", name, err)
	}
	// Never delete through a mount: a leftover overlay would expose the shared image.
	if left, err := mountsUnder(p.dir); err != nil || len(left) > 0 {
		return fmt.Errorf("destroy lab %s: still mounted under %s: %v %w", name, p.dir, left, err)
	}
	if err := os.RemoveAll(p.dir); err != nil {
		return fmt.Errorf("destroy lab %s: remove %s: %w", name, p.dir, err)
	}
	return forgetRuns(m.dir(name))
}

// forgetRuns removes what `meshlab up` recorded about the destroyed machines from the lab's
// state folder: the done-task state (a lab created again under the same name is new machines,
// and "already done (recorded)" would skip their set-up), the kubeconfig of the cluster that
// is gone and the image tarballs built for it. The run logs stay; the folder goes when empty.
func forgetRuns(d state.LabDir) error {
	for _, f := range append(d.ImageTarballs(), d.StateFile(), d.Kubeconfig()) {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("destroy lab: forget its runs: %w", err)
		}
	}
	_ = os.Remove(d.Path()) // only when nothing else is in it
	return nil
}

// unmountAll unmounts everything at or below dir, deepest first. A busy mount is detached so a
// stray process holding it cannot block destroy; its memory goes when that process exits.
func unmountAll(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, mp := range mounts {
		if err := unix.Unmount(mp, 0); err != nil {
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
				continue // not mounted any more
			}
			if derr := unix.Unmount(mp, unix.MNT_DETACH); derr != nil {
				return fmt.Errorf("unmount %s: %w", mp, derr)
			}
		}
	}
	return nil
}
