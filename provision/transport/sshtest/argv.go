package sshtest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ArgvLeak is a process whose command line contained a secret.
type ArgvLeak struct {
	PID  int
	Argv string // with NULs shown as spaces
}

// WatchArgv scans the command line of every process on the machine (/proc/*/cmdline) every
// few milliseconds until the returned stop function is called, and stop returns every process
// whose argv contained one of secrets. Use it around code that handles passwords to prove they
// never reach argv, where any local user could read them.
func WatchArgv(ctx context.Context, secrets ...string) (stop func() []ArgvLeak) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		mu    sync.Mutex
		leaks = map[int]ArgvLeak{}
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, l := range ScanArgv(secrets...) {
				mu.Lock()
				leaks[l.PID] = l
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() []ArgvLeak {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		out := make([]ArgvLeak, 0, len(leaks))
		for _, l := range leaks {
			out = append(out, l)
		}
		return out
	}
}

// ScanArgv checks every process's command line once.
func ScanArgv(secrets ...string) []ArgvLeak {
	var out []ArgvLeak
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		argv := strings.ReplaceAll(string(b), "\x00", " ")
		for _, s := range secrets {
			if s != "" && strings.Contains(argv, s) {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				out = append(out, ArgvLeak{PID: pid, Argv: argv})
				break
			}
		}
	}
	return out
}
