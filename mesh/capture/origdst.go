package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// soOriginalDst is SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and IP6T_SO_ORIGINAL_DST
// (linux/netfilter_ipv6/ip6_tables.h); both are 80, asked at level SOL_IP or SOL_IPV6.
const soOriginalDst = 80

// OriginalDst returns the address a connection was sent to before an iptables REDIRECT rule
// delivered it to this listener (the proxy's outbound 15001 or inbound 15006). It asks
// conntrack through SO_ORIGINAL_DST for IPv4 (including IPv4 accepted on a dual-stack socket)
// and IP6T_SO_ORIGINAL_DST for IPv6. It does not dup the descriptor (unlike TCPConn.File), so
// the connection stays in non-blocking mode and in Go's poller.
func OriginalDst(conn *net.TCPConn) (netip.AddrPort, error) {
	if conn == nil {
		return netip.AddrPort{}, errors.New("original destination: nil connection")
	}
	local, ok := conn.LocalAddr().(*net.TCPAddr)
	if !ok || local == nil {
		return netip.AddrPort{}, fmt.Errorf("original destination: local address %v is not TCP", conn.LocalAddr())
	}
	level := unix.SOL_IPV6
	if local.IP.To4() != nil {
		// An IPv4 peer on an AF_INET6 socket has a v4-mapped local address; conntrack
		// holds an IPv4 entry for it, so the IPv4 option is the one that answers.
		level = unix.SOL_IP
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("original destination of %v: %w", conn.RemoteAddr(), err)
	}
	// Large enough for sockaddr_in6 (28 bytes); sockaddr_in (16 bytes) fits too.
	var buf [32]byte
	var sockErr error
	ctlErr := raw.Control(func(fd uintptr) {
		size := uint32(len(buf))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, uintptr(level), soOriginalDst,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		if errno != 0 {
			sockErr = errno
		}
	})
	if ctlErr != nil {
		return netip.AddrPort{}, fmt.Errorf("original destination of %v: %w", conn.RemoteAddr(), ctlErr)
	}
	if sockErr != nil {
		// ENOENT: conntrack has no NAT entry, i.e. the connection was not redirected.
		return netip.AddrPort{}, fmt.Errorf("original destination of %v (getsockopt SO_ORIGINAL_DST): %w",
			conn.RemoteAddr(), sockErr)
	}
	return decodeSockaddr(buf[:])
}

// decodeSockaddr reads a struct sockaddr_in or sockaddr_in6 as the kernel wrote it: the family in
// host byte order, the port in network byte order.
func decodeSockaddr(b []byte) (netip.AddrPort, error) {
	family := binary.NativeEndian.Uint16(b[0:2])
	port := binary.BigEndian.Uint16(b[2:4])
	switch family {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), nil
	case unix.AF_INET6:
		// Layout: family, port, flowinfo (4 bytes), address (16 bytes), scope id.
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port), nil
	default:
		return netip.AddrPort{}, fmt.Errorf("original destination: unexpected address family %d", family)
	}
}
