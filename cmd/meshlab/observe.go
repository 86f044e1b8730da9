package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/lab/stack"
	"github.com/meshlab/meshlab/provision/inventory"
)

// labSource is how the observability commands (mesh graph, mesh traces, dashboard) find a
// lab's addons: a URL given outright, or the lab's hosts file (--hosts, or --lab for a local
// lab), whose first node and NodePorts give the same URLs `meshlab up`'s summary prints.
type labSource struct {
	lab, hosts string
}

func (s *labSource) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.hosts, "hosts", "", "the lab's hosts file: its first node and NodePorts locate the addons")
	f.StringVar(&s.lab, "lab", "", "a local lab by name (meshlab lab create): its hosts file locates the addons")
	cmd.MarkFlagsMutuallyExclusive("hosts", "lab")
}

// errNoLab says how to point a command at a lab.
var errNoLab = errors.New("no lab given: pass --lab NAME (a local lab), --hosts FILE (the lab's hosts file) or the addon's URL")

// given reports whether a lab was named.
func (s *labSource) given() bool { return s.lab != "" || s.hosts != "" }

// load reads the lab's hosts file.
func (s *labSource) load(ctx context.Context, g *globalOptions, stderr io.Writer) (*inventory.Lab, error) {
	path := s.hosts
	if s.lab != "" {
		m, err := labManager(g, stderr)
		if err != nil {
			return nil, err
		}
		l, err := m.Get(ctx, s.lab)
		if err != nil {
			return nil, fmt.Errorf("--lab %s: %w (meshlab lab list shows the labs)", s.lab, err)
		}
		path = l.HostsFile
	}
	if path == "" {
		return nil, errNoLab
	}
	lab, err := inventory.Load(path)
	if err != nil {
		return nil, err
	}
	return lab, nil
}

// endpoints are the lab's URLs.
func (s *labSource) endpoints(cmd *cobra.Command, g *globalOptions) (stack.Endpoints, *inventory.Lab, error) {
	lab, err := s.load(cmd.Context(), g, cmd.ErrOrStderr())
	if err != nil {
		return stack.Endpoints{}, nil, err
	}
	return stack.EndpointsAt(lab, nodePortHost(g, lab)), lab, nil
}

// nodePortHost is where this machine reaches the lab's NodePorts: the host of the API server in the
// lab's kubeconfig, which `meshlab up` points where this machine reaches the control plane (the
// hosts file's address, or the node's own address when SSH goes through a forwarded port, as
// with Vagrant); the first host's address when there is no kubeconfig yet or it names a
// loopback address (a port forwarded over SSH: the NodePorts need their own `ssh -L`).
func nodePortHost(g *globalOptions, lab *inventory.Lab) string {
	first := ""
	if len(lab.Hosts) > 0 {
		first = lab.Hosts[0].Address
	}
	path, err := labKubeconfig(g, lab)
	if err != nil {
		return first
	}
	cfg, err := kube.Load(kube.LoadOptions{Kubeconfig: path})
	if err != nil {
		return first
	}
	u, err := url.Parse(cfg.REST.Host)
	if err != nil {
		return first
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !ip.IsLoopback() && !ip.IsUnspecified() {
		return ip.String()
	}
	return first
}

// answers reports whether GET url is 200 within a short time: whether an optional addon runs.
func answers(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
