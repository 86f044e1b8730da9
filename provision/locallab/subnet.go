package locallab

import (
	"fmt"
	"net/netip"

	"github.com/meshlab/meshlab/internal/hostnet"
)

// subnetPool is where lab subnets come from: 10.213.N.0/24. It stays clear of the Kubernetes
// defaults the machines will use inside (pods 10.244.0.0/16, services 10.96.0.0/12) and of
// Docker's 172.17-31 and 192.168 pools.
var subnetPool = netip.MustParsePrefix("10.213.0.0/16")

// pickSubnet returns the first /24 of the pool that overlaps none of the used prefixes.
func pickSubnet(used []netip.Prefix) (netip.Prefix, error) {
	base := subnetPool.Addr().As4()
	for n := 0; n < 256; n++ {
		cand := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(n), 0}), 24)
		if _, taken := hostnet.Overlapping(used, cand); !taken {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 left in %s: every one collides with a route or address on this machine", subnetPool)
}

// hostAddress returns the n-th address of a /24 (1 = the bridge, 10+i = machine i).
func hostAddress(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr().As4()
	a[3] = byte(n)
	return netip.AddrFrom4(a)
}
