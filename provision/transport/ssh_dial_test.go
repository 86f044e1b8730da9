package transport

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Nothing listens: DialSSH keeps trying with backoff until the context ends, then reports
// ErrConnection with the number of attempts.
func TestDialSSHRetriesUntilContextEnds(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // a port that refuses connections
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = DialSSH(ctx, SSHConfig{
		Address: "127.0.0.1", Port: port, User: "nobody",
		KnownHostsPath: filepath.Join(t.TempDir(), "known_hosts"),
	})
	if !errors.Is(err, ErrConnection) || !IsRetryable(err) || !strings.Contains(err.Error(), "attempts") {
		t.Fatalf("err = %v, want retryable ErrConnection after several attempts", err)
	}
}

func TestPIDCatcher(t *testing.T) {
	for _, tc := range []struct {
		name   string
		want   int // markers the wrappers print
		writes []string
		groups []int
		out    string
	}{
		{"one marker", 1, []string{"meshlab-pid:12\nhello\n"}, []int{12}, "hello\n"},
		{"two markers split", 2, []string{"meshlab-p", "id:12\nmeshlab-pid:3", "4\nout"}, []int{12, 34}, "out"},
		{"no marker", 1, []string{"plain output\n"}, nil, "plain output\n"},
		{"short output", 1, []string{"ok"}, nil, "ok"},
		{"marker-like later", 1, []string{"meshlab-pid:17\nx\nmeshlab-pid:2\n"}, []int{17}, "x\nmeshlab-pid:2\n"},
		{"not a number", 1, []string{"meshlab-pid:abc\n"}, nil, "meshlab-pid:abc\n"},
		// The command's own first line looks like a marker: only the wrappers' count is taken.
		{"one more than announced", 1, []string{"meshlab-pid:12\nmeshlab-pid:99\n"}, []int{12}, "meshlab-pid:99\n"},
		{"no wrapper announces", 0, []string{"meshlab-pid:99\n"}, nil, "meshlab-pid:99\n"},
		// kill -1 would signal every process, -0 the caller's own group.
		{"group 1", 1, []string{"meshlab-pid:1\n"}, nil, "meshlab-pid:1\n"},
		{"group 0", 2, []string{"meshlab-pid:40\nmeshlab-pid:0\n"}, []int{40}, "meshlab-pid:0\n"},
		{"negative", 1, []string{"meshlab-pid:-5\n"}, nil, "meshlab-pid:-5\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			p := newPIDCatcher(&out, tc.want)
			for _, w := range tc.writes {
				if n, err := p.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			p.flush()
			groups := p.wait(0)
			if out.String() != tc.out || len(groups) != len(tc.groups) {
				t.Fatalf("out %q groups %v, want %q %v", out.String(), groups, tc.out, tc.groups)
			}
			for i := range groups {
				if groups[i] != tc.groups[i] {
					t.Fatalf("groups %v, want %v", groups, tc.groups)
				}
			}
		})
	}
}

func TestAnnouncementsFollowTheWrappers(t *testing.T) {
	for _, b := range []becomer{{method: becomeSudoNoPassword}, {method: becomeSudoPassword, password: "pw"}} {
		line, _ := b.wrap("echo 'it''s' $HOME", nil)
		if n := announcements(line, 1); n != 2 {
			t.Errorf("sudo-wrapped (%v) over SSH: %d markers, want 2", b.method, n)
		}
		if n := announcements(line, 0); n != 1 {
			t.Errorf("sudo-wrapped (%v) locally: %d markers, want 1", b.method, n)
		}
	}
	if line, _ := (becomer{method: becomeDirect}).wrap("sudo -- sh -c 'x'", nil); announcements(line, 1) != 1 {
		t.Error("a command that itself starts with sudo counted as the wrapper")
	}
	if got := killScript([]int{1, 0, -3}); got != "exit 0" {
		t.Errorf("killScript of no valid group = %q", got)
	}
	if got := killScript([]int{1, 77}); strings.Contains(got, "-1 ") || !strings.Contains(got, "kill -TERM -77") {
		t.Errorf("killScript kept group 1: %q", got)
	}
}

func TestKillScriptIsPOSIX(t *testing.T) {
	got := killScript([]int{10, 20})
	for _, want := range []string{"kill -TERM -10 ", "kill -TERM -20 ", "kill -0 -10 2>/dev/null || kill -0 -20", "kill -KILL -20"} {
		if !strings.Contains(got, want) {
			t.Errorf("killScript lacks %q:\n%s", want, got)
		}
	}
}
