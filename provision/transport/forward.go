package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Forwarder is a local TCP port whose every connection is carried to a remote address by dial
// (through an SSH connection: ssh -L done in process). It lives until Close.
type Forwarder struct {
	ln     net.Listener
	dial   func(ctx context.Context) (net.Conn, error)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Forward listens on listen (host:port of this machine; port 0 picks a free one) and connects
// every accepted connection with dial, copying both ways.
func Forward(listen string, dial func(ctx context.Context) (net.Conn, error)) (*Forwarder, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("forward: listen on %s: %w", listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Forwarder{ln: ln, dial: dial, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

// Addr is the local address (127.0.0.1:port) connections are forwarded from.
func (f *Forwarder) Addr() string { return f.ln.Addr().String() }

// Close stops listening and ends every forwarded connection.
func (f *Forwarder) Close() error {
	f.cancel()
	err := f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (f *Forwarder) track(c net.Conn, on bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		if f.ctx.Err() != nil {
			return false
		}
		f.conns[c] = struct{}{}
	} else {
		delete(f.conns, c)
	}
	return true
}

func (f *Forwarder) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go f.serve(c)
	}
}

func (f *Forwarder) serve(local net.Conn) {
	defer f.wg.Done()
	defer local.Close()
	if !f.track(local, true) {
		return
	}
	defer f.track(local, false)
	remote, err := f.dial(f.ctx)
	if err != nil {
		return // the client sees the connection close: there is no one to tell the reason to
	}
	defer remote.Close()
	if !f.track(remote, true) {
		return
	}
	defer f.track(remote, false)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close: the other direction may still have data to deliver.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
		done <- struct{}{}
	}
	go pipe(remote, local)
	go pipe(local, remote)
	<-done
	<-done
}
