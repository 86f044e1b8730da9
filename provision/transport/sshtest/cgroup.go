package sshtest

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cgroup is a cgroup v2 directory holding one sshd and everything it starts. sshd runs each
// session in a new session (setsid) and leaves commands running when a client disconnects;
// those get re-parented to init and can no longer be found as descendants of sshd, but they
// stay in the cgroup. Without cgroup v2 (or without permission) the harness falls back to
// the process tree, which misses such orphans.
type cgroup struct{ dir string }

// newCgroup creates a fresh cgroup under the first cgroup2 mount, or returns nil.
func newCgroup() *cgroup {
	root := cgroup2Mount()
	if root == "" {
		return nil
	}
	dir, err := os.MkdirTemp(root, "meshlab-sshtest-")
	if err != nil {
		return nil
	}
	return &cgroup{dir: dir}
}

// open returns the directory for exec's SysProcAttr.CgroupFD: the child starts inside the
// cgroup (clone3 CLONE_INTO_CGROUP), so no fork can escape before it is moved.
func (c *cgroup) open() (*os.File, error) {
	return os.Open(c.dir)
}

func (c *cgroup) pids() []int {
	b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// kill SIGKILLs every process in the cgroup (cgroup.kill, Linux 5.14+), waits until it is
// empty (bounded) and removes it.
func (c *cgroup) kill() {
	os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0) //nolint:errcheck // fallback below
	deadline := time.Now().Add(10 * time.Second)
	for len(c.pids()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	os.Remove(c.dir)
}

func cgroup2Mount() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// fields: id parent major:minor root mountpoint options ... - fstype source superopts
		fields := strings.Fields(sc.Text())
		for i, field := range fields {
			if field == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4]
			}
		}
	}
	return ""
}
