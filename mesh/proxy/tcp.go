package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/telemetry"
)

const tcpConnectTimeout = 10 * time.Second

// spliceTCP connects to the upstream for c and copies both ways until both sides are done. On
// Linux io.Copy between two TCP sockets uses splice(2), so payload never enters user space.
func (s *server) spliceTCP(c *proxyConn, t *config.Table, host *config.Host) {
	defer c.Close()
	target := c.info.dst
	var ep *endpoint
	var cl *config.Cluster
	var secure *tls.Config
	if s.dir == directionOutbound && host != nil {
		if _, pinned := t.ByDestination(c.info.dst); pinned {
			secure = s.p.clusters.pinnedTLS(target.String())
		} else {
			// A service VIP is not routable: pick a real endpoint, as Envoy's TCP proxy does.
			cl = host.DefaultCluster
			ep = s.p.clusters.pick(cl)
			if ep == nil {
				s.log.Debug("proxy: TCP: no healthy endpoint", "service", host.FQDN)
				return
			}
			target = ep.addr
			if st := s.p.clusters.state(cl); st != nil {
				secure = st.secure(target.String())
			}
		}
	}
	d := net.Dialer{Timeout: tcpConnectTimeout}
	if s.dir == directionInbound {
		d.LocalAddr = s.p.inboundSource(target.String())
	}
	ctx, cancel := context.WithTimeout(s.ctx, tcpConnectTimeout)
	up, err := d.DialContext(ctx, "tcp", target.String())
	if err == nil && secure != nil {
		up, err = clientHandshake(ctx, up, secure, target.String())
	}
	cancel()
	if ep != nil {
		s.p.clusters.done(cl, ep, err != nil, false)
	}
	if err != nil {
		s.log.Debug("proxy: TCP connect", "upstream", target, "err", err)
		return
	}
	defer up.Close()
	labels := s.tcpLabels(t, host, ep, c.info, secure != nil)
	tel := s.p.opts.Telemetry
	tel.TCPOpened(labels)
	var sent, received atomic.Int64 // sent: toward the downstream client
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, err := io.Copy(up, c) // client -> upstream
		received.Store(n)
		finishDirection(up, c, err)
	}()
	n, err := io.Copy(c, up) // upstream -> client
	sent.Store(n)
	finishDirection(c, up, err)
	wg.Wait()
	tel.TCPClosed(labels, sent.Load(), received.Load())
}

// finishDirection ends one copy direction: on EOF it half-closes the writer so the peer sees
// end-of-stream and the other direction may go on; on an error (a reset) it closes both.
func finishDirection(dst, src net.Conn, err error) {
	if err == nil || errors.Is(err, io.EOF) {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
			return
		}
	}
	dst.Close()
	src.Close()
}

// tcpLabels are a TCP connection's labels. As Istio's: the destination reports
// connection_security_policy mutual_tls or none with the client's principal; the source reports
// unknown, with both principals when it originated mutual TLS.
func (s *server) tcpLabels(t *config.Table, host *config.Host, ep *endpoint, info connInfo, originatedTLS bool) telemetry.Labels {
	l := telemetry.Labels{RequestProtocol: "tcp", ConnectionSecurityPolicy: "none"}
	if t == nil {
		return l
	}
	self := workloadOf(t.Proxy)
	if s.dir == directionInbound {
		l.Reporter = telemetry.ReporterDestination
		l.Destination = self
		if info.mtls {
			l.ConnectionSecurityPolicy = "mutual_tls"
			l.Source.Principal, l.Destination.Principal = info.peer, s.p.mtls.ownPrincipal()
		}
	} else {
		l.Reporter = telemetry.ReporterSource
		l.ConnectionSecurityPolicy = "unknown"
		l.Source = self
		if ep != nil {
			l.Destination = endpointWorkload(ep.ce, host.Namespace)
		}
		if originatedTLS && s.p.mtls != nil {
			l.Source.Principal = s.p.mtls.ownPrincipal()
			if ep != nil {
				l.Destination.Principal = ep.ce.Identity
			}
		}
	}
	if host != nil {
		l.DestinationService, l.DestinationServiceName, l.DestinationServiceNS = host.FQDN, host.Service, host.Namespace
	}
	return l
}

func workloadOf(p config.Proxy) telemetry.Workload {
	return telemetry.Workload{Name: p.Workload, Namespace: p.Namespace, App: p.Labels["app"], Version: p.Labels["version"]}
}

func endpointWorkload(e config.ClusterEndpoint, ns string) telemetry.Workload {
	return telemetry.Workload{Name: e.Workload, Namespace: ns, App: e.Labels["app"], Version: e.Labels["version"]}
}
