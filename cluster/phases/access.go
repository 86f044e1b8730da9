package phases

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshlab/meshlab/cluster/kubeadm"
	"github.com/meshlab/meshlab/cluster/kubeconfig"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/transport"
)

// How this machine reaches the API server is decided when the kubeconfig is written, by trying,
// in order, with a TLS handshake that must present the cluster's own CA (so an address that
// happens to answer on 6443 is never taken for the lab's API server):
//
//  1. the hosts file's address of the control plane (not a loopback one: a port forwarded to
//     127.0.0.1 for SSH says nothing about 6443);
//  2. its node address, only when it is on a network this machine is attached to (a VirtualBox
//     host-only network): meshlab connects to no other address it learned on the hosts, since a
//     private address of theirs (the NAT 10.0.2.15, a cloud VPC's 10.x) may mean something else
//     here;
//  3. otherwise through the control plane's SSH connection: a port on 127.0.0.1 forwarded to the
//     API server for as long as the run lasts, which every later phase (mesh, addons, Bookinfo,
//     verify) uses through the kubeconfig; the kubeconfig names the certificate's "kubernetes"
//     SAN, and the log says which `ssh -L` keeps it working after the run.
//
// The NodePorts (gateway, addons) are reached the same way: on the address that answered, or
// through ports forwarded over the same SSH connection.

// accessProbeTimeout bounds one TLS handshake with a candidate address.
const accessProbeTimeout = 3 * time.Second

// apiServerName is a SAN kubeadm always puts in the API server's certificate.
const apiServerName = "kubernetes"

// Access is how this machine reaches the cluster.
type Access struct {
	Server        string // https://host:port for the kubeconfig
	TLSServerName string // the certificate name to check when Server's host is not in it
	// Host is where this machine reaches the nodes' ports directly; "" when only through SSH.
	Host string
	How  string // for the log

	tunnel *tunnel // nil when direct
}

// tunnel forwards local ports through the control plane's SSH connection.
type tunnel struct {
	r       *engine.Run
	dialer  transport.Dialer
	node    netip.Addr // the control plane's node address, as the host reaches itself
	ssh     string     // the ssh command line that reaches the control plane, for hints
	apiPort int

	mu    sync.Mutex
	ports map[int]string // remote port → local host:port
}

func (t *tunnel) forward(listen string, port int) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.ports[port]; ok {
		return a, nil
	}
	target := net.JoinHostPort(t.node.String(), strconv.Itoa(port))
	fw, err := transport.Forward(listen, func(ctx context.Context) (net.Conn, error) {
		return t.dialer.DialContext(ctx, "tcp", target)
	})
	if err != nil {
		return "", err
	}
	t.r.OnClose(func() { _ = fw.Close() })
	t.ports[port] = fw.Addr()
	return fw.Addr(), nil
}

// Hint says how to reach the API server after the run when it is only reachable through SSH.
func (a *Access) Hint() string {
	if a == nil || a.tunnel == nil {
		return ""
	}
	u, _ := url.Parse(a.Server)
	return fmt.Sprintf("the API server is reachable only through SSH: keep `%s -N -L %s:%s` running while you use the kubeconfig",
		a.tunnel.ssh, u.Host, net.JoinHostPort(a.tunnel.node.String(), strconv.Itoa(a.tunnel.apiPort)))
}

// NodePort is host:port where this machine reaches a NodePort of the lab: on the address the API
// server answered on, or a local port forwarded through the control plane's SSH connection.
// Before the kubeconfig phase decided (a run of later phases alone), it is the control plane's
// address from the hosts file.
func (s *Set) NodePort(_ context.Context, port int) (string, error) {
	a := s.p.currentAccess()
	switch {
	case a == nil:
		return net.JoinHostPort(s.p.initHost.Address, strconv.Itoa(port)), nil
	case a.tunnel == nil:
		return net.JoinHostPort(a.Host, strconv.Itoa(port)), nil
	}
	return a.tunnel.forward("127.0.0.1:0", port)
}

// NodeHost is the address the NodePorts are on, as a URL names them: where this machine reaches
// the control plane directly, else its node address (reached through SSH), else (before the
// kubeconfig phase decided) the hosts file's address.
func (s *Set) NodeHost() string {
	a := s.p.currentAccess()
	switch {
	case a == nil:
		return s.p.initHost.Address
	case a.tunnel == nil:
		return a.Host
	}
	return a.tunnel.node.String()
}

// AccessHint is what the summary tells about reaching the lab after the run ("" when direct).
func (s *Set) AccessHint() string { return s.p.currentAccess().Hint() }

func (p *plan) currentAccess() *Access {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.access
}

// decideAccess finds how this machine reaches the API server of cp (see the top of this file).
// previous is the lab's kubeconfig from an earlier run: a tunnel keeps its local port, so the
// kubeconfig does not change between runs.
func (p *plan) decideAccess(ctx context.Context, r *engine.Run, h *engine.Host, admin []byte, cp NodeNet, previous []byte) (*Access, error) {
	pool, err := kubeconfig.CAPool(admin)
	if err != nil {
		return nil, err
	}
	apiPort, attached := kubeadm.DefaultAPIServerPort, onLink
	if p.apiPort != 0 { // tests
		apiPort, attached = p.apiPort, p.attached
	}
	port := strconv.Itoa(apiPort)
	var tried []string
	for _, c := range accessCandidates(h.Address, cp.IP, attached) {
		addr := net.JoinHostPort(c.host, port)
		if err := tlsReachable(ctx, addr, c.host, pool); err != nil {
			tried = append(tried, addr+" ("+shortErr(err)+")")
			continue
		}
		a := &Access{Server: "https://" + addr, Host: c.host, How: "directly at " + addr + ", " + c.why}
		p.setAccess(a)
		return a, nil
	}
	d, ok := h.Transport.(transport.Dialer)
	if !ok {
		return nil, fmt.Errorf("the API server is not reachable from this machine (tried %s) and the connection to %s cannot forward ports",
			strings.Join(tried, ", "), h.Name)
	}
	t := &tunnel{r: r, dialer: d, node: cp.IP, ssh: sshCommand(h), ports: map[int]string{}, apiPort: apiPort}
	local, err := t.forward(previousLocal(previous), apiPort)
	if err != nil {
		if local, err = t.forward("127.0.0.1:0", apiPort); err != nil {
			return nil, err
		}
	}
	if err := tlsReachable(ctx, local, apiServerName, pool); err != nil {
		return nil, fmt.Errorf("the API server is not reachable from this machine (tried %s), nor through %s's SSH connection to %s: %w",
			strings.Join(tried, ", "), h.Name, net.JoinHostPort(cp.IP.String(), port), err)
	}
	why := "the API server does not answer from this machine"
	if len(tried) > 0 {
		why += " at " + strings.Join(tried, ", ")
	}
	a := &Access{Server: "https://" + local, TLSServerName: apiServerName, tunnel: t,
		How: fmt.Sprintf("through %s's SSH connection (%s): %s forwards to %s", h.Name, why, local, net.JoinHostPort(cp.IP.String(), port))}
	p.setAccess(a)
	return a, nil
}

func (p *plan) setAccess(a *Access) {
	p.mu.Lock()
	p.access = a
	p.mu.Unlock()
}

type candidate struct{ host, why string }

// accessCandidates are the addresses worth trying from this machine, in order.
func accessCandidates(sshAddress string, node netip.Addr, attached func(netip.Addr) bool) []candidate {
	var out []candidate
	ip, err := netip.ParseAddr(sshAddress)
	if err != nil || !ip.IsLoopback() {
		out = append(out, candidate{sshAddress, "the hosts file's address"})
	}
	if node.IsValid() && node.String() != sshAddress && attached(node) {
		out = append(out, candidate{node.String(), "the node address, on a network this machine is attached to"})
	}
	return out
}

// onLink says whether ip is on a network one of this machine's interfaces is attached to.
func onLink(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() {
			continue
		}
		if p, err := netip.ParsePrefix(n.String()); err == nil && p.Masked().Contains(ip) {
			return true
		}
	}
	return false
}

// tlsReachable completes a TLS handshake with addr that presents a certificate for name signed
// by the cluster's CA.
func tlsReachable(ctx context.Context, addr, name string, pool *x509.CertPool) error {
	ctx, cancel := context.WithTimeout(ctx, accessProbeTimeout)
	defer cancel()
	d := &tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// previousLocal is the local address a tunnel of an earlier run listened on, or a free port.
func previousLocal(kc []byte) string {
	if u, err := url.Parse(kubeconfig.Server(kc)); err == nil {
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && ip.IsLoopback() && u.Port() != "" {
			return u.Host
		}
	}
	return "127.0.0.1:0"
}

// sshCommand is the OpenSSH command line that reaches h as meshlab does.
func sshCommand(h *engine.Host) string {
	s := "ssh"
	if h.Port != 0 && h.Port != 22 {
		s += " -p " + strconv.Itoa(h.Port)
	}
	if h.User != "" {
		return s + " " + h.User + "@" + h.Address
	}
	return s + " " + h.Address
}

func shortErr(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer within " + accessProbeTimeout.String()
	}
	return err.Error()
}
