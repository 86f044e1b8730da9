package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/meshlab/meshlab/cmd/meshlab/tui/draft"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
)

// TestLoadExistingFile loads a hosts file from the first screen and lands on its hosts.
func TestLoadExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab.yaml")
	doc := "name: loaded\nssh: {agent: true, user: ops}\nhosts:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.2, port: 2200}\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	m := New(Options{HostsPath: path})
	m = step(m, loadCmd(path, "", "")())
	if m.screen != screenHosts || m.draft.Name != "loaded" || len(m.draft.Hosts) != 2 {
		t.Fatalf("screen %d, draft %+v", m.screen, m.draft)
	}
	if h := m.draft.Hosts[1]; h.Port != 2200 || h.User != "ops" || h.Auth != draft.AuthAgent || h.Role != inventory.RoleWorker {
		t.Errorf("host b = %+v", h)
	}
	// A broken file stays on the first screen with inventory's problems.
	if err := os.WriteFile(path, []byte("hosts: [{address: 10.0.0.1, prot: 22}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m = step(New(Options{}), loadCmd(path, "", "")())
	if m.screen != screenStart || m.start.err == "" {
		t.Errorf("broken file: screen %d, err %q", m.screen, m.start.err)
	}
}

// TestNewFileOpensForm: a path that does not exist starts a new lab and opens the host form.
func TestNewFileOpensForm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "My Lab.yaml")
	m := step(New(Options{}), loadCmd(path, "", "")())
	if m.screen != screenHostForm || m.draft.Name != "my-lab" || m.path != path {
		t.Errorf("screen %d, name %q, path %q", m.screen, m.draft.Name, m.path)
	}
}

// TestEditAndDeleteHost edits a host's address and user through the form and deletes another.
func TestEditAndDeleteHost(t *testing.T) {
	clk := &fakeClock{t: t0}
	m := goldenModel(t, clk, 80, 24)
	m.screen = screenHosts
	m = step(m, keyMsg(tea.KeyDown), tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("e")})
	if m.screen != screenHostForm || m.form.index != 1 {
		t.Fatalf("edit did not open worker1: %d %d", m.screen, m.form.index)
	}
	m = step(m, keyMsg(tea.KeyTab), keyMsg(tea.KeyCtrlU), tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("10.1.1.1")},
		keyMsg(tea.KeyTab), keyMsg(tea.KeyTab), keyMsg(tea.KeyCtrlU), tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("admin")},
		keyMsg(tea.KeyTab), keyMsg(tea.KeyLeft), // auth: agent → key
		keyMsg(tea.KeyEnter))
	if m.screen != screenHosts {
		t.Fatalf("form not saved: %v", m.form.errs)
	}
	if h := m.draft.Hosts[1]; h.Address != "10.1.1.1" || h.User != "admin" || h.Auth != draft.AuthKey || h.Name != "worker1" {
		t.Errorf("edited host = %+v", h)
	}
	m = step(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("d")})
	if len(m.draft.Hosts) != 2 || m.draft.Hosts[1].Name != "worker2" {
		t.Errorf("after delete: %+v", m.draft.Hosts)
	}
}

// TestFormRejectsSecondName: inventory's validation (duplicate names) shows in the form.
func TestFormRejectsDuplicateName(t *testing.T) {
	m := goldenModel(t, &fakeClock{t: t0}, 80, 24)
	next, _ := m.openForm(-1)
	m = step(next.(Model), keyMsg(tea.KeyShiftTab), tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("cp1")},
		keyMsg(tea.KeyTab), tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("10.0.0.9")}, keyMsg(tea.KeyEnter))
	if m.screen != screenHostForm || len(m.form.errs) == 0 {
		t.Fatalf("duplicate name accepted: screen %d errs %v", m.screen, m.form.errs)
	}
}

// TestComponentsEdit swaps Zipkin for Jaeger and types Jaeger's NodePort.
func TestComponentsEdit(t *testing.T) {
	m := goldenModel(t, &fakeClock{t: t0}, 80, 24)
	m.screen, m.comps = screenComponents, newComponentsScreen(m.draft)
	down := keyMsg(tea.KeyDown)
	m = step(m, down, down, down, keyMsg(tea.KeySpace), // zipkin off: jaeger replaces it
		down, down, down, keyMsg(tea.KeySpace), // jaeger on
		keyMsg(tea.KeyBackspace), keyMsg(tea.KeyBackspace), keyMsg(tea.KeyBackspace), keyMsg(tea.KeyBackspace), keyMsg(tea.KeyBackspace),
		tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("3")}, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("1")},
		tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("9")}, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("9")},
		tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("9")}, keyMsg(tea.KeyEnter))
	if !m.draft.HasAddon("jaeger") || m.draft.NodePorts["jaeger"] != 31999 || m.screen != screenReview {
		t.Errorf("addons %v ports %v screen %d", m.draft.Addons, m.draft.NodePorts, m.screen)
	}
	if len(m.rev.errs) != 0 {
		t.Errorf("review problems: %v", m.rev.errs)
	}
}

// TestRunStateProgress: a host's bar moves through the phases and the overall is the mean.
func TestRunStateProgress(t *testing.T) {
	s := newRunState([]string{"a", "b"})
	s.apply(event.Event{Kind: event.PhaseStart, Phase: "p1", Done: 1, Total: 4})
	s.apply(event.Event{Kind: event.Progress, Host: "a", Done: 1, Total: 2})
	if f := s.fraction(s.byName["a"]); f != 1.5/4 {
		t.Errorf("a = %v, want %v", f, 1.5/4)
	}
	if f := s.fraction(s.byName["b"]); f != 1.0/4 {
		t.Errorf("b = %v", f)
	}
	if o := s.overall(); o != (1.5/4+1.0/4)/2 {
		t.Errorf("overall %v", o)
	}
	s.apply(event.Event{Kind: event.TaskFail, Host: "b", Task: "x", Error: &event.ErrorInfo{Message: "boom"}})
	s.apply(event.Event{Kind: event.LabDone, State: event.StateFailed})
	if s.byName["b"].state != event.StateFailed || s.byName["a"].state != event.StatePending {
		t.Errorf("states after a failed lab: a %s b %s", s.byName["a"].state, s.byName["b"].state)
	}
	s.apply(event.Event{Kind: event.Output, Host: "c", Line: "from a host not listed"})
	if len(s.hosts) != 3 {
		t.Error("an unlisted host's events were dropped")
	}
}

// TestRunStateKeepsLabTaskFailures: a failed task of a lab-wide phase (the stack runs on the
// cluster, not a host) keeps its whole error contract for the summary.
func TestRunStateKeepsLabTaskFailures(t *testing.T) {
	s := newRunState([]string{"a"})
	info := &event.ErrorInfo{Phase: "mesh-image", Task: "Build the image", Message: "no sidecar binary", Hint: "make build"}
	s.apply(event.Event{Kind: event.TaskFail, Phase: "mesh-image", Task: "Build the image", Error: info})
	s.apply(event.Event{Kind: event.TaskFail, Phase: "mesh-image", Task: "later", Error: &event.ErrorInfo{Message: "second"}})
	if s.labTaskErr == nil || s.labTaskErr.Message != info.Message || s.labTaskErr.Hint != info.Hint {
		t.Fatalf("lab task error %+v, want the first failure", s.labTaskErr)
	}
	if got := strings.Join(s.labLog, "\n"); !strings.Contains(got, "Build the image: no sidecar binary") {
		t.Errorf("lab log: %s", got)
	}
}

// TestEventQueueKeepsEveryEvent: many goroutines emit while the UI side drains; nothing is
// lost or reordered per host.
func TestEventQueueKeepsEveryEvent(t *testing.T) {
	q := newEventQueue()
	const hosts, each = 8, 500
	var wg sync.WaitGroup
	for h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				q.Emit(event.Event{Host: fmt.Sprint(h), Done: i})
			}
		}()
	}
	go func() { wg.Wait(); q.close() }()
	next := map[string]int{}
	total := 0
	for {
		msg := q.wait()()
		if msg == nil {
			break
		}
		for _, e := range msg.(eventsMsg) {
			if e.Done != next[e.Host] {
				t.Fatalf("host %s: event %d after %d", e.Host, e.Done, next[e.Host]-1)
			}
			next[e.Host]++
			total++
		}
	}
	total += len(q.drain())
	if total != hosts*each {
		t.Errorf("%d events delivered, want %d", total, hosts*each)
	}
}

// TestLogPaneScrolls: the pane follows the selected host's log, pgup goes back, end follows.
func TestLogPaneScrolls(t *testing.T) {
	clk := &fakeClock{t: t0}
	m := goldenModel(t, clk, 80, 24)
	next, _ := m.startRun(validLab(t, m))
	m = next.(Model)
	var evs eventsMsg
	for i := range 100 {
		evs = append(evs, event.Event{Kind: event.Output, Host: "cp1", Line: fmt.Sprintf("line %03d", i)})
	}
	m = step(m, evs)
	if v := m.View(); !strings.Contains(v, "line 099") || strings.Contains(v, "line 050") {
		t.Fatalf("not following the end:\n%s", v)
	}
	m = step(m, keyMsg(tea.KeyPgUp), keyMsg(tea.KeyPgUp), keyMsg(tea.KeyPgUp))
	if v := m.View(); strings.Contains(v, "line 099") {
		t.Errorf("pgup did not scroll back:\n%s", v)
	}
	m = step(m, keyMsg(tea.KeyEnd))
	if v := m.View(); !strings.Contains(v, "line 099") {
		t.Errorf("end did not follow again:\n%s", v)
	}
	m = step(m, keyMsg(tea.KeyDown))
	if v := m.View(); strings.Contains(v, "line 099") || !strings.Contains(v, "log: worker1") {
		t.Errorf("selecting worker1 still shows cp1's log:\n%s", v)
	}
}

// TestWrapWords: long summary lines break at spaces only (never inside a flag), continuations
// are indented, and a word wider than the line is split rather than run off the edge.
func TestWrapWords(t *testing.T) {
	cases := []struct {
		line  string
		width int
		want  []string
	}{
		{"  meshlab up --hosts /lab/hosts.yaml --bundle /srv/bundle", 40,
			[]string{"  meshlab up --hosts /lab/hosts.yaml", "      --bundle /srv/bundle"}},
		{"kubeconfig: /a/very/long/path/without/any/space/in/it", 30,
			[]string{"kubeconfig:", "    /a/very/long/path/without/", "    any/space/in/it"}},
	}
	for _, c := range cases {
		got := wrapLines([]string{c.line}, c.width)
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("wrap %q at %d:\n got %q\nwant %q", c.line, c.width, got, c.want)
		}
		for _, l := range got {
			if len(l) > c.width {
				t.Errorf("line %q is wider than %d", l, c.width)
			}
		}
	}
}

// TestPrintable: text from hosts never carries what moves a terminal's cursor behind the
// renderer's back (the tab in kubeadm's join command scrolled the whole frame by a row).
func TestPrintable(t *testing.T) {
	cases := map[string]string{
		"\tkubeadm join 10.0.0.1:6443 \\": "        kubeadm join 10.0.0.1:6443 \\",
		"ab\tc":                           "ab      c",
		"(Reading database ... 5%\r(Reading database ... 100%\r\n": "(Reading database ... 100%",
		"\x1b[31mred\x1b[0m and \x1b]0;title\x07plain":             "red and plain",
		"bell\x07 back\bspace\x7f":                                 "bell backspace",
		"two\nlines":                                               "two lines",
		"bad \xff byte":                                            "bad \uFFFD byte",
	}
	for in, want := range cases {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}
