// Package labrun is the wizard's door to the provisioning packages: it checks that a host can
// be reached and run commands as root, and it runs `meshlab up` on a lab with an event sink.
// The TUI calls it from tea.Cmds only, so the UI loop never waits on the network.
package labrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/meshlab/meshlab/provision/connect"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/transport"
)

// ProbeTimeout bounds one connectivity check. DialSSH retries a refused or dropped connection
// until its context ends, so this is also how long an unreachable host stays "testing".
const ProbeTimeout = 15 * time.Second

// Reason classifies a failed check for the user.
type Reason string

const (
	ReasonOK             Reason = ""
	ReasonRefused        Reason = "connection refused"
	ReasonUnreachable    Reason = "unreachable"
	ReasonTimeout        Reason = "timed out"
	ReasonAuth           Reason = "authentication failed"
	ReasonHostKeyUnknown Reason = "host key unknown"
	ReasonHostKeyChanged Reason = "host key changed"
	ReasonSudo           Reason = "sudo needs a password"
	ReasonSecret         Reason = "secret not readable"
	ReasonOther          Reason = "failed"
)

// ProbeResult is the outcome of checking one host.
type ProbeResult struct {
	Host   string
	Reason Reason // ReasonOK when the host is ready
	Err    error  // the full error, for the detail line
	// Root says how root commands run ("logged in as root" or "root through sudo") when the
	// check passed.
	Root string
	// HostKey is the fingerprint ("SHA256:…") of the key an unknown host presented: what the
	// user is shown, and the only key a later ProbeOptions.TrustKey may record.
	HostKey string
}

// OK reports whether the host is ready for a run.
func (r ProbeResult) OK() bool { return r.Err == nil }

// ProbeOptions shape a check.
type ProbeOptions struct {
	// KnownHostsPath overrides the lab's ssh.knownHosts.
	KnownHostsPath string
	// TrustKey records the host's key when it is not yet known and its fingerprint is this one:
	// the HostKey of an earlier result, after the user accepted it. A host presenting another
	// key is reported unknown again, with that key.
	TrustKey string
	Timeout  time.Duration // default ProbeTimeout
	// Logger receives the transport's debug lines; nil discards them (a TUI owns the screen,
	// so nothing may write to stderr behind its back).
	Logger *slog.Logger
}

// Probe logs in to the named host of lab and runs `id -u` as root, the two things every run
// needs first. It never returns early on cancellation without saying so in the result.
func Probe(ctx context.Context, lab *inventory.Lab, hostName string, o ProbeOptions) ProbeResult {
	res := ProbeResult{Host: hostName}
	var host *inventory.Host
	for i := range lab.Hosts {
		if lab.Hosts[i].Name == hostName {
			host = &lab.Hosts[i]
		}
	}
	if host == nil {
		res.Reason, res.Err = ReasonOther, fmt.Errorf("host %s is not in the hosts file", hostName)
		return res
	}
	// Only this host's secrets: another host's unset variable is not this host's problem.
	one := *lab
	one.Hosts = []inventory.Host{*host}
	sec, err := connect.ResolveSecrets(&one)
	if err != nil {
		res.Reason, res.Err = ReasonSecret, err
		return res
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = ProbeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := connect.Config(&one, *host, sec, connect.Options{KnownHostsPath: o.KnownHostsPath, Logger: log})
	cfg.TrustKey = o.TrustKey
	t, err := transport.DialSSH(ctx, cfg)
	if err != nil {
		res.Reason, res.Err = Classify(err), err
		var unknown *transport.UnknownKeyError
		if errors.As(err, &unknown) {
			res.HostKey = unknown.Fingerprint
		}
		return res
	}
	defer t.Close()
	r, err := t.Run(ctx, transport.Cmd{Command: "id -u", Become: true, Timeout: timeout})
	if err != nil {
		res.Reason, res.Err = Classify(err), err
		return res
	}
	res.Root = "logged in as root"
	if host.User != "root" {
		res.Root = "root through sudo"
	}
	if r.Stdout != "0\n" && r.Stdout != "0" {
		res.Reason, res.Err = ReasonSudo, fmt.Errorf("%s: root command ran as uid %q", hostName, r.Stdout)
	}
	return res
}

// Classify maps a transport error to the reason shown in red. Order matters: a host-key or
// sudo problem is also wrapped in connection errors on some paths.
func Classify(err error) Reason {
	switch {
	case err == nil:
		return ReasonOK
	case errors.Is(err, transport.ErrHostKeyMismatch):
		return ReasonHostKeyChanged
	case errors.Is(err, transport.ErrHostKeyUnknown):
		return ReasonHostKeyUnknown
	case errors.Is(err, transport.ErrAuth):
		return ReasonAuth
	case errors.Is(err, transport.ErrSudo):
		return ReasonSudo
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonRefused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, transport.ErrTimeout):
		return ReasonTimeout
	case errors.Is(err, transport.ErrConnection):
		return ReasonUnreachable
	}
	return ReasonOther
}
