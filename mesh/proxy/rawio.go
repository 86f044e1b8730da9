package proxy

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// rawSocket reads and writes a connected TCP socket with raw system calls, still waiting in Go's
// netpoller (deadlines included) when the socket is not ready.
//
// Why: every read and write through net.Conn enters the runtime's syscall path, and when the
// process was idle that wakes the runtime's monitor thread (sysmon), which then polls every
// 20 µs for a while. A sidecar at 1000 requests/s is idle between most requests, so each request
// cost several extra thread wake-ups, about half of all its context switches (strace and perf
// counted them). The sockets are non-blocking, so a raw read or write returns at once (EAGAIN
// when not ready) and never needs the syscall path's protections.
type rawSocket struct {
	c  *net.TCPConn
	rc syscall.RawConn

	rmu, wmu sync.Mutex // net.Conn allows concurrent calls; the fields below are per direction

	// State of the call in progress, read by the closures below, which are made once so that a
	// call allocates nothing. Reads and writes may run concurrently, so each has its own.
	rbuf, wbuf []byte
	rn, wn     int
	rerr, werr syscall.Errno
	readFn     func(fd uintptr) bool
	writeFn    func(fd uintptr) bool
}

func newRawSocket(c *net.TCPConn) (*rawSocket, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &rawSocket{c: c, rc: rc}
	s.readFn = s.readSome
	s.writeFn = s.writeAll
	return s, nil
}

func (s *rawSocket) readSome(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&s.rbuf[0])), uintptr(len(s.rbuf)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // not readable yet: wait in the netpoller
		}
		s.rn, s.rerr = int(n), e
		return true
	}
}

func (s *rawSocket) writeAll(fd uintptr) bool {
	for len(s.wbuf) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.wbuf[0])), uintptr(len(s.wbuf)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // the send buffer is full: wait until writable, then go on
		case 0:
			s.wn += int(n)
			s.wbuf = s.wbuf[n:]
		default:
			s.werr = e
			return true
		}
	}
	return true
}

func (s *rawSocket) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.rbuf, s.rn, s.rerr = b, 0, 0
	err := s.rc.Read(s.readFn)
	s.rbuf = nil
	switch {
	case err != nil:
		return 0, s.opError("read", err)
	case s.rerr != 0:
		return 0, s.opError("read", os.NewSyscallError("read", s.rerr))
	case s.rn == 0:
		return 0, io.EOF
	}
	return s.rn, nil
}

func (s *rawSocket) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.wbuf, s.wn, s.werr = b, 0, 0
	err := s.rc.Write(s.writeFn)
	s.wbuf = nil
	switch {
	case err != nil:
		return s.wn, s.opError("write", err)
	case s.werr != 0:
		return s.wn, s.opError("write", os.NewSyscallError("write", s.werr))
	}
	return s.wn, nil
}

// opError reports err as net.Conn's own Read and Write do (an *net.OpError with Op "read" or
// "write"), so that callers such as net/http classify timeouts, resets and closes as before.
func (s *rawSocket) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err // RawConn names its ops "raw-read"/"raw-write"
	}
	return &net.OpError{Op: op, Net: "tcp", Source: s.c.LocalAddr(), Addr: s.c.RemoteAddr(), Err: err}
}
