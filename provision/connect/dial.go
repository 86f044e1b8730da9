package connect

import (
	"context"

	"github.com/meshlab/meshlab/provision/transport"
)

// dial opens the SSH transport (one connection per host, reused for every command).
func dial(ctx context.Context, cfg transport.SSHConfig) (transport.Transport, error) {
	t, err := transport.DialSSH(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return t, nil
}
