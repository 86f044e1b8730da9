package transport

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLocalRun(t *testing.T) {
	l := NewLocal("local", SudoAuto, "")
	got := newLines()
	res, err := l.Run(testCtx(t), Cmd{Command: "echo a; echo b >&2; echo c; exit 2", Stdout: got.add})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.ExitStatus != 2 || res.Stdout != "a\nc\n" || res.Stderr != "b\n" {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
	if strings.Join(got.get(), ",") != "a,c" {
		t.Fatalf("streamed %q", got.get())
	}
	res = mustRun(t, l, Cmd{Command: "cat", Stdin: strings.NewReader("in")})
	if res.Stdout != "in" {
		t.Fatalf("stdin: %q", res.Stdout)
	}
}

func TestLocalTimeoutKillsProcessGroup(t *testing.T) {
	l := NewLocal("local", SudoAuto, "")
	got := newLines()
	_, err := l.Run(testCtx(t), Cmd{Command: "sleep 300 & echo child=$!; wait", Timeout: time.Second, Stdout: got.add})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	pid, _ := strconv.Atoi(strings.TrimPrefix(got.waitLine(t, "child="), "child="))
	waitGone(t, pid)
}

func TestLocalCancel(t *testing.T) {
	l := NewLocal("local", SudoAuto, "")
	ctx, cancel := context.WithCancel(testCtx(t))
	got := newLines()
	done := make(chan error, 1)
	go func() {
		_, err := l.Run(ctx, Cmd{Command: "echo pid=$$; sleep 300", Stdout: got.add})
		done <- err
	}()
	pid, _ := strconv.Atoi(strings.TrimPrefix(got.waitLine(t, "pid="), "pid="))
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	waitGone(t, pid)
}

func TestLocalBecomeAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: run as root or via .ci/run")
	}
	l := NewLocal("local", SudoAuto, "")
	if got := mustRun(t, l, Cmd{Command: "id -u", Become: true}).Stdout; got != "0\n" {
		t.Fatalf("id -u = %q", got)
	}
}

func TestLocalPutGet(t *testing.T) {
	l := NewLocal("local", SudoAuto, "")
	dir := t.TempDir()
	target := filepath.Join(dir, "conf")
	data := []byte("hello\n")
	if err := l.Put(testCtx(t), bytes.NewReader(data), Upload{Path: target, Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(target)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("stat: %v %v", st, err)
	}
	got, err := l.Get(testCtx(t), target, true)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}
