package phases

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshlab/meshlab/cluster/kubeadm"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
)

const testToken = "abcdef.0123456789abcdef"

type eventLog struct {
	mu sync.Mutex
	ev []event.Event
}

func (l *eventLog) Emit(e event.Event) { l.mu.Lock(); l.ev = append(l.ev, e); l.mu.Unlock() }

func threeHostRun(t *testing.T, cp, w1, w2 *fakeHost) (*engine.Run, *eventLog, *plan) {
	lab := testLab()
	lab.Hosts = append(lab.Hosts, inventory.Host{Name: "worker2", Address: "10.77.0.4", Role: inventory.RoleWorker})
	cs := fake.NewClientset()
	p := &plan{Options: Options{Lab: lab}, initHost: lab.Hosts[0], testClient: func() (kubernetes.Interface, error) { return cs, nil }}
	// The node addresses the facts phase would have chosen: the lab network, not the addresses
	// the operator reaches the hosts on.
	p.learned = &learned{nets: map[string]NodeNet{
		"cp1":     {IP: netip.MustParseAddr("192.168.56.10"), Iface: "eth1"},
		"worker1": {IP: netip.MustParseAddr("192.168.56.11"), Iface: "eth1"},
		"worker2": {IP: netip.MustParseAddr("192.168.56.12"), Iface: "eth1"},
	}}
	log := &eventLog{}
	r := &engine.Run{Action: "up", Lab: "demo", Sink: log, Hosts: []*engine.Host{
		{Name: "cp1", Address: "10.77.0.2", Role: "control-plane", Transport: cp},
		{Name: "worker1", Address: "10.77.0.3", Role: "worker", Transport: w1},
		{Name: "worker2", Address: "10.77.0.4", Role: "worker", Transport: w2},
	}}
	return r, log, p
}

func TestJoinCreatesOneTokenAndSkipsJoinedWorkers(t *testing.T) {
	cp := newFake("cp1", answer{prefix: "kubeadm token create", stdout: testToken + "\n"})
	cp.files["/etc/kubernetes/pki/ca.crt"] = testCA(t)
	w1 := newFake("worker1", answer{prefix: "test -f " + kubeletConf, exit: 1})
	w2 := newFake("worker2") // already joined: its guard passes
	r, log, p := threeHostRun(t, cp, w1, w2)
	j := &Join{plan: p}
	if err := j.Prepare(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := j.Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(cp.commands(), "kubeadm token create --ttl 30m0s"); n != 1 {
		t.Errorf("token created %d times, want once", n)
	}
	put, ok := w1.puts[RemoteJoinConfig]
	if !ok || put.mode != 0o600 || !strings.Contains(put.data, "token: "+testToken) || !strings.Contains(put.data, "caCertHashes:") ||
		!strings.Contains(put.data, "apiServerEndpoint: 192.168.56.10:6443") || !strings.Contains(put.data, "value: 192.168.56.11") {
		t.Errorf("join config upload = %+v (want the control plane's and worker1's node addresses)", put)
	}
	joinRan := false
	for _, c := range w1.commands() {
		if strings.Contains(c, "kubeadm join --config "+RemoteJoinConfig) {
			joinRan = true
			if strings.Contains(c, testToken) {
				t.Error("the token is in the join command line")
			}
		}
	}
	if !joinRan || len(w2.puts) != 0 {
		t.Errorf("worker1 joined=%v; worker2 uploads=%v (want none: already a node)", joinRan, w2.puts)
	}
	b, _ := json.Marshal(log.ev)
	if strings.Contains(string(b), testToken) {
		t.Error("the token appears in an event")
	}
	var skipped bool
	for _, e := range log.ev {
		if e.Host == "worker2" && e.Kind == event.TaskSkip && e.Line == engine.SkipGuard {
			skipped = true
		}
	}
	if !skipped {
		t.Error("worker2 was not reported as already done")
	}
}

func TestJoinFailureNamesHostPhaseAndTask(t *testing.T) {
	cp := newFake("cp1", answer{prefix: "kubeadm token create", stdout: testToken + "\n"})
	cp.files["/etc/kubernetes/pki/ca.crt"] = testCA(t)
	w1 := newFake("worker1", answer{prefix: "test -f " + kubeletConf, exit: 1}, answer{prefix: "trap ", exit: 7})
	w2 := newFake("worker2")
	r, _, p := threeHostRun(t, cp, w1, w2)
	j := &Join{plan: p}
	_ = j.Prepare(context.Background(), r)
	err := j.Run(context.Background(), r)
	var te *engine.TaskError
	if !errors.As(err, &te) || te.Host != "worker1" || te.Phase != "join" || te.Task != joinTask || te.Exit != 7 ||
		len(te.Stderr) == 0 || te.Hint == "" {
		t.Fatalf("error = %#v", err)
	}
}

func TestKubeadmConfigWritesOnceUntilInit(t *testing.T) {
	cp := newFake("cp1", answer{prefix: "test -f /etc/kubernetes/admin.conf", exit: 1})
	r, _, p := threeHostRun(t, cp, newFake("worker1"), newFake("worker2"))
	k := &KubeadmConfig{plan: p}
	if err := k.Prepare(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := k.Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	put := cp.puts[RemoteInitConfig]
	if put.mode != 0o600 || !strings.Contains(put.data, "advertiseAddress: 192.168.56.10") ||
		!strings.Contains(put.data, "value: 192.168.56.10") || !strings.Contains(put.data, "- 10.77.0.2\n") {
		t.Errorf("init config upload = %+v (want the node address advertised, the SSH address a SAN)", put)
	}
	// After init (admin.conf exists) nothing is written again.
	done := newFake("cp1")
	r.Hosts[0].Transport = done
	if err := k.Run(context.Background(), r); err != nil || len(done.puts) != 0 {
		t.Errorf("after init: err=%v uploads=%v", err, done.puts)
	}
}

func bootstrapSecret(id, description string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: "kube-system"},
		Type: bootstrapTokenType, Data: map[string][]byte{"token-id": []byte(id), "token-secret": []byte("0123456789abcdef"),
			"description": []byte(description)}}
}

// After the joins, the tokens meshlab made (kubeadm init's and the join's) are gone and a token
// someone else made stays; a second run finds nothing to delete and says "already done".
func TestJoinDeletesMeshlabTokens(t *testing.T) {
	r, log, p := threeHostRun(t, newFake("cp1"), newFake("worker1"), newFake("worker2")) // all already nodes
	cs := fake.NewClientset(bootstrapSecret("aaaaaa", kubeadm.InitTokenDescription),
		bootstrapSecret("bbbbbb", kubeadm.JoinTokenDescription), bootstrapSecret("cccccc", "the admin's own token"))
	p.testClient = func() (kubernetes.Interface, error) { return cs, nil }
	j := &Join{plan: p}
	for run := range 2 {
		_ = j.Prepare(context.Background(), r)
		if err := j.Run(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		left, _ := cs.CoreV1().Secrets("kube-system").List(context.Background(), metav1.ListOptions{})
		if len(left.Items) != 1 || left.Items[0].Name != "bootstrap-token-cccccc" {
			t.Fatalf("run %d: tokens left %v, want only the admin's own", run, left.Items)
		}
	}
	var kinds []event.Kind
	for _, e := range log.ev {
		if e.Task == tokensTask {
			kinds = append(kinds, e.Kind)
		}
	}
	if len(kinds) != 3 || kinds[1] != event.TaskDone || kinds[2] != event.TaskSkip {
		t.Errorf("token step events %v, want start, done, then skip on the re-run", kinds)
	}
}
