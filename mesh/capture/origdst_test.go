package capture

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDecodeSockaddr(t *testing.T) {
	var v4 [32]byte
	binary.NativeEndian.PutUint16(v4[0:], unix.AF_INET)
	binary.BigEndian.PutUint16(v4[2:], 9080)
	copy(v4[4:], []byte{10, 1, 2, 3})
	var v6 [32]byte
	binary.NativeEndian.PutUint16(v6[0:], unix.AF_INET6)
	binary.BigEndian.PutUint16(v6[2:], 443)
	a6 := netip.MustParseAddr("2001:db8::7").As16()
	copy(v6[8:], a6[:])
	for _, tc := range []struct {
		raw  []byte
		want string
	}{{v4[:], "10.1.2.3:9080"}, {v6[:], "[2001:db8::7]:443"}} {
		got, err := decodeSockaddr(tc.raw)
		if err != nil || got.String() != tc.want {
			t.Errorf("decodeSockaddr = %v, %v; want %s", got, err, tc.want)
		}
	}
	if _, err := decodeSockaddr(make([]byte, 32)); err == nil {
		t.Error("family 0 accepted")
	}
}

// A connection that was not redirected: when conntrack tracks this namespace the answer is the
// real destination; when it does not, the kernel's ENOENT (or ENOPROTOOPT) is passed on.
func TestOriginalDstWithoutRedirect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := OriginalDst(s.(*net.TCPConn))
	switch {
	case err == nil:
		if got.String() != ln.Addr().String() {
			t.Fatalf("OriginalDst on a direct connection = %v, want the listener %v", got, ln.Addr())
		}
	case !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOPROTOOPT):
		t.Fatalf("OriginalDst on a direct connection: %v, want ENOENT or the real destination", err)
	}
	if _, err := OriginalDst(nil); err == nil {
		t.Fatal("nil connection accepted")
	}
}
