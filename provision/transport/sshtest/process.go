package sshtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Stop ends the server gracefully: SIGTERM to sshd and every process it started (connection
// handlers and the commands they run), then SIGKILL for whatever is left after 5 s. It is
// called automatically at test cleanup and may be called earlier; later calls do nothing.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		s.signalAll(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
		}
		s.killAll()
	})
}

// Kill simulates a crashed host: SIGKILL to sshd and every process it started, with no chance
// to close connections cleanly. Clients see the TCP connection drop.
func (s *Server) Kill() {
	s.stopOnce.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		s.killAll()
	})
}

// Freeze stops (SIGSTOP) sshd and everything it started, leaving every TCP connection open but
// silent: a host that hangs or vanished without closing its connections. The returned function
// resumes them; Stop and Kill also work on a frozen server.
func (s *Server) Freeze() (thaw func()) {
	frozen := s.signalAll(syscall.SIGSTOP)
	return func() {
		for _, pid := range frozen {
			syscall.Kill(pid, syscall.SIGCONT) //nolint:errcheck // may have exited
		}
	}
}

func (s *Server) killAll() {
	if s.cg != nil {
		s.cg.kill() // removes it too
		s.cg = nil
	} else {
		signalTree(descendants, s.PID, syscall.SIGKILL)
	}
	<-s.exited
}

// signalAll sends sig to every process of this server and returns them.
func (s *Server) signalAll(sig syscall.Signal) []int {
	if s.cg != nil {
		return signalTree(func(int) []int { return s.cg.pids() }, 0, sig)
	}
	return signalTree(descendants, s.PID, sig)
}

// signalTree sends sig to every process list returns. Everything is frozen first (SIGSTOP) and
// the list re-read until it stops growing, so no process forks a child we have not seen, and
// (for the process-tree fallback) children are found before their parent dies and they are
// re-parented to init. Only this server's processes are touched: processes the harness started.
func signalTree(list func(int) []int, root int, sig syscall.Signal) []int {
	seen := map[int]bool{}
	var all []int
	for {
		added := false
		for _, pid := range list(root) {
			if !seen[pid] {
				seen[pid] = true
				all = append(all, pid)
				added = true
				syscall.Kill(pid, syscall.SIGSTOP) //nolint:errcheck // may have exited
			}
		}
		if !added {
			break
		}
	}
	for _, pid := range all {
		syscall.Kill(pid, sig) //nolint:errcheck // may have exited
		if sig != syscall.SIGKILL && sig != syscall.SIGSTOP {
			syscall.Kill(pid, syscall.SIGCONT) //nolint:errcheck // let it handle sig
		}
	}
	return all
}

// descendants returns root and every process below it.
func descendants(root int) []int {
	children := map[int][]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		pid, ppid, ok := readStat(path)
		if ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// readStat parses pid and ppid from /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may itself contain spaces or ')', so fields are counted after the last ')'.
func readStat(path string) (pid, ppid int, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	text := string(b)
	open, closing := strings.IndexByte(text, '('), strings.LastIndexByte(text, ')')
	if open < 1 || closing < open {
		return 0, 0, false
	}
	fields := strings.Fields(text[closing+1:]) // state, ppid, ...
	if len(fields) < 2 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(text[:open]))
	ppid, err2 := strconv.Atoi(fields[1])
	return pid, ppid, err1 == nil && err2 == nil
}
