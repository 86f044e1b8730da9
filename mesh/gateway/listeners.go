package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshlab/meshlab/mesh/proxy"
)

// drainTimeout bounds how long a removed port (or the whole gateway at shutdown) waits for
// requests in flight.
const drainTimeout = 5 * time.Second

// listeners keeps one HTTP server per Gateway server port in step with the latest translation:
// a port a new Gateway declares is bound, a port no Gateway declares any more is drained and
// closed, and every kept port switches to its new route target without dropping connections.
type listeners struct {
	g       *Gateway
	p       *proxy.Proxy
	servers map[uint16]*portServer
	wg      sync.WaitGroup
}

// portServer serves one port; handler is swapped on reload (the port's synthetic service
// address can change when the set of ports does).
type portServer struct {
	hs      *http.Server
	handler atomic.Pointer[http.Handler]
}

func (ps *portServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*ps.handler.Load()).ServeHTTP(w, r)
}

// apply gives t's routes to the proxy, then t's ports to the listeners. Every port is attempted;
// the error joins those that failed.
func (ls *listeners) apply(t *Translation) error {
	log := ls.g.opts.Logger
	if err := ls.p.ApplySnapshot(t.Snapshot); err != nil {
		return fmt.Errorf("gateway: translated config rejected by the proxy: %w", err)
	}
	if len(t.Servers) == 0 {
		log.Warn("gateway: no Gateway selects this gateway's labels yet; serving no port until one does",
			"labels", ls.g.opts.Labels)
	}
	want := map[uint16]bool{}
	var errs []error
	for _, s := range t.Servers {
		want[s.Port] = true
		h := ls.p.GatewayHandler(s.Dst())
		if ps := ls.servers[s.Port]; ps != nil {
			ps.handler.Store(&h)
			continue
		}
		if err := ls.open(s, h); err != nil {
			errs = append(errs, err)
		}
	}
	for port, ps := range ls.servers {
		if !want[port] {
			ls.shut(port, ps)
			log.Info("gateway: port closed; no Gateway declares it any more", "port", port)
		}
	}
	return errors.Join(errs...)
}

func (ls *listeners) open(s Server, h http.Handler) error {
	log := ls.g.opts.Logger
	addr := ls.g.opts.Listen[s.Port]
	if addr == "" {
		addr = ":" + strconv.Itoa(int(s.Port))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway: port %d (Gateways %v): %w", s.Port, s.Gateways, err)
	}
	ps := &portServer{}
	ps.handler.Store(&h)
	ps.hs = &http.Server{Handler: ps, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	ls.servers[s.Port] = ps
	ls.wg.Add(1)
	go func() { defer ls.wg.Done(); _ = ps.hs.Serve(ln) }()
	ls.g.setAddr(s.Port, ln.Addr())
	log.Info("gateway: serving", "port", s.Port, "addr", ln.Addr(), "gateways", s.Gateways, "routes", s.Routes)
	return nil
}

func (ls *listeners) shut(port uint16, ps *portServer) {
	ls.g.setAddr(port, nil)
	delete(ls.servers, port)
	drain, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	_ = ps.hs.Shutdown(drain)
}

// close drains every port and waits for the servers to return.
func (ls *listeners) close() {
	for port, ps := range ls.servers {
		ls.shut(port, ps)
	}
	ls.wg.Wait()
}
