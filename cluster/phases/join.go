package phases

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/meshlab/meshlab/cluster/kubeadm"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/transport"
)

// Join joins every worker that is not yet a node: a fresh bootstrap token with a TTL is created
// on the control plane (once per run, only when some worker needs it), the CA is pinned by its
// public-key hash, and each worker runs `kubeadm join --config` with a JoinConfiguration
// uploaded 0600 and deleted afterwards, so the token is never in an argv or a log.
type Join struct {
	plan    *plan
	workers []*engine.Host

	mu     sync.Mutex
	secret *joinSecret // made on first need
}

type joinSecret struct {
	token, caHash string
}

var (
	_ engine.Preparer = (*Join)(nil)
	_ engine.Guard    = (*Join)(nil)
)

func (*Join) Title() string { return "Join the workers" }
func (*Join) Name() string  { return "join" }

const (
	joinTask = "Join the cluster"
	// kubeletConf exists once a node has joined (or was initialised).
	kubeletConf = "/etc/kubernetes/kubelet.conf"
)

func (j *Join) Prepare(_ context.Context, r *engine.Run) error {
	j.workers = j.workers[:0]
	for _, h := range r.Hosts {
		if h.Name != j.plan.initHost.Name {
			j.workers = append(j.workers, h)
		}
	}
	j.secret = nil
	return nil
}

func (j *Join) ShouldRun(*engine.Run) bool { return len(j.workers) > 0 }

func (j *Join) Run(ctx context.Context, r *engine.Run) error {
	cp := findHost(r, j.plan.initHost.Name)
	var nets map[string]NodeNet
	if cp != nil && cp.Transport != nil {
		var err error
		if nets, err = j.plan.nodeNets(ctx, r); err != nil {
			return newTask(r, nil, "join", joinTask).Fail("", "see the facts phase's lines for each host's addresses; set internalAddress in the hosts file", err)
		}
	}
	return r.ForEachHost(ctx, j.workers, func(ctx context.Context, h *engine.Host) error {
		t := newTask(r, h, "join", joinTask)
		if h.Transport == nil { // a dry run without --probe
			return r.Wet(h, "join", joinTask, "would join the cluster with a fresh token (unless already a node)", nil)
		}
		joined, err := t.test(ctx, "test -f "+kubeletConf)
		if err != nil {
			return t.Fail("test -f "+kubeletConf, "", err)
		}
		if joined {
			t.Skip("")
			return nil
		}
		return r.Wet(h, "join", joinTask, "would join the cluster with a fresh token", func() error {
			t.Begin("")
			s, err := j.joinSecret(ctx, r, cp)
			if err != nil {
				return err
			}
			return j.join(ctx, t, h, nets[h.Name], nets[cp.Name], s)
		})
	})
}

// joinSecret creates the token and reads the CA hash once for all workers.
func (j *Join) joinSecret(ctx context.Context, r *engine.Run, cp *engine.Host) (*joinSecret, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.secret != nil {
		return j.secret, nil
	}
	t := newTask(r, cp, "join", "Create a join token")
	t.Begin("")
	cmd := kubeadm.TokenCreateCommand(j.plan.TokenTTL)
	// Not t.run: the token on stdout must not reach the host log.
	res, err := cp.Transport.Run(ctx, transport.Cmd{Command: cmd, Become: true, Timeout: 2 * time.Minute})
	if err != nil {
		return nil, t.Fail(cmd, "the control plane's API server must be up: check `kubectl get nodes` with the lab's kubeconfig", err)
	}
	token, err := kubeadm.ParseToken(res.Stdout)
	if err != nil {
		return nil, t.Fail(cmd, "", err)
	}
	ca, err := cp.Transport.Get(ctx, "/etc/kubernetes/pki/ca.crt", true)
	if err != nil {
		return nil, t.Fail("cat /etc/kubernetes/pki/ca.crt", "", err)
	}
	hash, err := kubeadm.CACertHash(ca)
	if err != nil {
		return nil, t.Fail("", "", fmt.Errorf("%s: %w", cp.Name, err))
	}
	t.Done("token valid for " + ttlText(j.plan.TokenTTL))
	j.secret = &joinSecret{token: token, caHash: hash}
	return j.secret, nil
}

func ttlText(d time.Duration) string {
	if d <= 0 {
		d = kubeadm.DefaultTokenTTL
	}
	return d.String()
}

func (j *Join) join(ctx context.Context, t *task, h *engine.Host, node, cp NodeNet, s *joinSecret) error {
	cfg, err := kubeadm.JoinConfig(kubeadm.JoinOptions{
		NodeName: h.Name, NodeIP: node.IP.String(),
		APIServerEndpoint: net.JoinHostPort(cp.IP.String(), strconv.Itoa(kubeadm.DefaultAPIServerPort)),
		Token:             s.token, CACertHash: s.caHash, Offline: j.plan.offline(),
	})
	if err != nil {
		return t.Fail("", "", err)
	}
	mk := "install -d -m 0700 " + RemoteConfigDir
	if _, err := t.run(ctx, mk, time.Minute); err != nil {
		return t.Fail(mk, "", err)
	}
	if err := h.Transport.Put(ctx, bytes.NewReader(cfg), transport.Upload{Path: RemoteJoinConfig, Mode: 0o600, Become: true}); err != nil {
		return t.Fail("sftp put "+RemoteJoinConfig, "", err)
	}
	ignore := ""
	for _, e := range j.plan.IgnorePreflightErrors {
		ignore += " --ignore-preflight-errors=" + transport.Quote(e)
	}
	// A join that stopped half-way leaves a kubelet config and certificates behind: undo them
	// first, so the re-run needs no manual reset. The config holds the token: always removed.
	cmd := "trap 'rm -f " + RemoteJoinConfig + "' EXIT\n" +
		"if [ -e /etc/kubernetes/bootstrap-kubelet.conf ] || [ -e /etc/kubernetes/pki/ca.crt ]; then\n" +
		"  echo 'a previous kubeadm join did not finish: resetting it first'\n" +
		"  kubeadm reset -f --cri-socket " + kubeadm.DefaultCRISocket + "\nfi\n" +
		"kubeadm join --config " + RemoteJoinConfig + ignore
	if _, err := t.run(ctx, cmd, DefaultJoinTimeout); err != nil {
		return t.Fail("kubeadm join --config "+RemoteJoinConfig+ignore,
			"see the kubelet log on this host (journalctl -u kubelet); re-running `meshlab up` resets the half-done join first", err)
	}
	t.Done("")
	return nil
}
