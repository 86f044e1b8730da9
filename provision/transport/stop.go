package transport

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pidMarker starts the stdout lines that announce a process group to stop on cancel. The SSH
// wrapper prints one for the session's shell, and the sudo wrapper one for the command under
// sudo, which sudo runs in a new session (so killing the outer group alone would orphan it).
const pidMarker = "meshlab-pid:"

// announcements is how many marker lines precede a command's own output when line runs through
// a shell that announces itself (shell: the SSH wrapper's 1, the local shell's 0), plus 1 when
// line is sudo's wrapper (becomer.wrap), which announces the group sudo gives the command.
// Only that many lines are taken as markers: the command's own output can never name a group.
func announcements(line string, shell int) int {
	// wrap writes `sudo … -- sh -c '<announceGroup><command>'` (announceGroup has no quote, so
	// Quote leaves it as it is).
	if strings.HasPrefix(line, "sudo ") && strings.Contains(line, " -- sh -c '"+announceGroup) {
		return shell + 1
	}
	return shell
}

// validGroup: a process group the stop may signal. `kill -SIG -1` signals every process the
// caller may signal and -0 its own group, so 0, 1 and negatives are never groups to stop.
func validGroup(g int) bool { return g > 1 }

// killScript stops process groups: TERM, up to 3 s for them to exit, then KILL. The form
// `kill -SIG -PGID` (no -s, no --) is the one dash, bash and busybox all read as a group.
func killScript(groups []int) string {
	var term, alive, kill []string
	for _, g := range groups {
		if !validGroup(g) {
			continue
		}
		id := "-" + strconv.Itoa(g)
		term = append(term, "kill -TERM "+id+" 2>/dev/null")
		alive = append(alive, "kill -0 "+id+" 2>/dev/null")
		kill = append(kill, "kill -KILL "+id+" 2>/dev/null")
	}
	if len(term) == 0 {
		return "exit 0"
	}
	return strings.Join(term, "; ") + "; i=0; " +
		"while [ $i -lt 30 ] && { " + strings.Join(alive, " || ") + "; }; do sleep 0.1; i=$((i+1)); done; " +
		strings.Join(kill, "; ") + "; exit 0"
}

// pidCatcher takes the marker lines off the front of stdout and passes everything else on:
// exactly the number the wrappers print (want), each a group number above 1.
type pidCatcher struct {
	next io.Writer
	want int
	got  chan struct{} // closed at the first marker

	mu     sync.Mutex
	head   []byte // start of the stream while markers are still possible
	done   bool   // past the markers
	groups []int
}

func newPIDCatcher(next io.Writer, want int) *pidCatcher {
	p := &pidCatcher{next: next, want: want, got: make(chan struct{})}
	if want == 0 {
		p.done = true
	}
	return p
}

func (p *pidCatcher) Write(b []byte) (int, error) {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return p.forward(b, len(b))
	}
	p.head = append(p.head, b...)
	for !p.done {
		i := bytes.IndexByte(p.head, '\n')
		if i < 0 {
			// A partial line: wait for more unless it already cannot be a marker.
			if len(p.head) >= len(pidMarker) && !bytes.HasPrefix(p.head, []byte(pidMarker)) {
				p.done = true
			}
			break
		}
		line := string(p.head[:i])
		g, err := strconv.Atoi(strings.TrimPrefix(line, pidMarker))
		if !strings.HasPrefix(line, pidMarker) || err != nil || !validGroup(g) {
			p.done = true
			break
		}
		if len(p.groups) == 0 {
			close(p.got)
		}
		p.groups = append(p.groups, g)
		p.head = p.head[i+1:]
		p.done = len(p.groups) == p.want
	}
	var rest []byte
	if p.done {
		rest, p.head = p.head, nil
	}
	p.mu.Unlock()
	return p.forward(rest, len(b))
}

func (p *pidCatcher) forward(b []byte, n int) (int, error) {
	if len(b) > 0 {
		if _, err := p.next.Write(b); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// flush passes on a start of output too short to be told apart from a marker (a last line
// without newline of under len(pidMarker) bytes). Call it after the command ended.
func (p *pidCatcher) flush() {
	p.mu.Lock()
	rest := p.head
	p.head, p.done = nil, true
	p.mu.Unlock()
	p.forward(rest, 0) //nolint:errcheck // the writers used here do not fail
}

// wait returns the announced groups once the first arrived, giving up after d (a command
// cancelled the instant it started may not have printed it yet).
func (p *pidCatcher) wait(d time.Duration) []int {
	select {
	case <-p.got:
	case <-time.After(d):
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.groups...)
}
