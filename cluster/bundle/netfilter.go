package bundle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// NetfilterLayer builds, in cacheDir, the Debian netfilter userspace layer the kube-proxy and
// flanneld images sit on: iptables (nft and legacy back ends), nft, conntrack, libc and the
// libraries they load, with /usr/sbin/iptables-restore and friends linked to xtables-nft-multi.
// Other images that exec iptables — the meshlab image, whose injected init container runs
// `meshlab mesh init` — use it as their base layer. The pinned .debs are fetched with apt-get
// download into cacheDir/debs-download unless already there, so a second call only re-extracts.
func NetfilterLayer(ctx context.Context, cacheDir string) (v1.Layer, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("netfilter layer: %w", err)
	}
	debDir := filepath.Join(cacheDir, "debs-download")
	if err := fetchDebs(ctx, debDir, netfilterDebs()); err != nil {
		return nil, fmt.Errorf("netfilter layer: %w", err)
	}
	return netfilterLayer(ctx, debDir, cacheDir)
}
