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
		writes []string
		groups []int
		out    string
	}{
		{"one marker", []string{"meshlab-pid:12\nhello\n"}, []int{12}, "hello\n"},
		{"two markers split", []string{"meshlab-p", "id:12\nmeshlab-pid:3", "4\nout"}, []int{12, 34}, "out"},
		{"no marker", []string{"plain output\n"}, nil, "plain output\n"},
		{"short output", []string{"ok"}, nil, "ok"},
		{"marker-like later", []string{"meshlab-pid:1\nx\nmeshlab-pid:2\n"}, []int{1}, "x\nmeshlab-pid:2\n"},
		{"not a number", []string{"meshlab-pid:abc\n"}, nil, "meshlab-pid:abc\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			p := newPIDCatcher(&out)
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

func TestKillScriptIsPOSIX(t *testing.T) {
	got := killScript([]int{10, 20})
	for _, want := range []string{"kill -TERM -10 ", "kill -TERM -20 ", "kill -0 -10 2>/dev/null || kill -0 -20", "kill -KILL -20"} {
		if !strings.Contains(got, want) {
			t.Errorf("killScript lacks %q:\n%s", want, got)
		}
	}
}
