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
// uploaded 0600 and deleted afterwards, so the token is never in an argv or a log. Then every
// token meshlab made (kubeadm init's, never printed, and the joins') is deleted: once the nodes
// are in, no token is left that could add another.
type Join struct {
	plan    *plan
	workers []*engine.Host

	mu     sync.Mutex
	secret *joinSecret // made on first need
}

type joinSecret struct {
	token, caHash string
}

var _ engine.Preparer = (*Join)(nil)

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

func (j *Join) Run(ctx context.Context, r *engine.Run) error {
	if err := j.joinAll(ctx, r); err != nil {
		return err
	}
	return j.deleteTokens(ctx, r)
}

// tokensTask is the lab-wide step that deletes meshlab's bootstrap tokens.
const tokensTask = "Delete meshlab's bootstrap tokens"

func (j *Join) deleteTokens(ctx context.Context, r *engine.Run) error {
	t := newTask(r, nil, "join", tokensTask)
	if r.DryRun {
		t.Plan("would delete the bootstrap tokens meshlab made (kubeadm init's and the joins')")
		return nil
	}
	cs, err := j.plan.kubeClient()
	if err != nil {
		return t.Fail("", "", err)
	}
	ids, err := meshlabTokens(ctx, cs)
	if err != nil {
		return t.Fail("", "the API server must answer with the lab's kubeconfig ("+j.plan.kubeconfigPath()+")", err)
	}
	if len(ids) == 0 {
		t.Skip("")
		return nil
	}
	t.Begin("")
	if err := deleteTokens(ctx, cs, ids); err != nil {
		return t.Fail("", "", err)
	}
	t.Done(fmt.Sprintf("deleted %d token(s): %v", len(ids), ids))
	return nil
}

func (j *Join) joinAll(ctx context.Context, r *engine.Run) error {
	if len(j.workers) == 0 {
		return nil
	}
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
	owned := ""
	if !j.plan.Force { // the same check the reset tasks make: only the lab's own host is reset
		owned = "  if ! grep -qsxF " + transport.Quote("lab="+j.plan.Lab.Name) + " " + RemoteOwnerMarker + "; then\n" +
			"    echo 'refusing to reset a node whose " + RemoteOwnerMarker + " does not name this lab: re-run with --force to take it over' >&2; exit 1\n  fi\n"
	}
	cmd := "trap 'rm -f " + RemoteJoinConfig + "' EXIT\n" +
		"if [ -e /etc/kubernetes/bootstrap-kubelet.conf ] || [ -e /etc/kubernetes/pki/ca.crt ]; then\n" + owned +
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
