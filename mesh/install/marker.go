package install

import (
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/meshlab/meshlab/provision/transport"
)

// ImageMarker is the file on each node naming the meshlab image tarball it last imported, so a
// re-run can tell a node that has this build's image from one that needs it.
const ImageMarker = "/var/lib/meshlab/meshlab-image"

// markerTimeout bounds the marker's check and write (a cat, a ctr listing, a printf).
const markerTimeout = time.Minute

// HasImage says whether the node already imported tarName and still has ref in containerd
// (someone may have pruned it since): the marker alone is not proof.
func HasImage(ctx context.Context, node transport.Transport, marker, tarName, ref string) (bool, error) {
	check := "test \"$(cat " + transport.Quote(marker) + " 2>/dev/null)\" = " + transport.Quote(tarName) +
		" && ctr -n k8s.io images ls -q | grep -qxF " + transport.Quote(ref)
	_, err := node.Run(ctx, transport.Cmd{Command: check, Become: true, Timeout: markerTimeout})
	var ee *transport.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee):
		return false, nil
	}
	return false, fmt.Errorf("check for %s on %s: %w", ref, node.Name(), err)
}

// MarkImage records on the node that tarName was imported.
func MarkImage(ctx context.Context, node transport.Transport, marker, tarName string) error {
	mark := "mkdir -p " + transport.Quote(path.Dir(marker)) + " && printf '%s\\n' " + transport.Quote(tarName) + " > " + transport.Quote(marker)
	if _, err := node.Run(ctx, transport.Cmd{Command: mark, Become: true, Timeout: markerTimeout}); err != nil {
		return fmt.Errorf("record %s on %s: %w", marker, node.Name(), err)
	}
	return nil
}
