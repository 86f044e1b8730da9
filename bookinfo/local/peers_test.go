package local

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testpeersGoMod pins the versions of the peer programs (tools/testpeers/build.sh builds them).
const testpeersGoMod = "../../tools/testpeers/go.mod"

// jaegerBinary is where tools/testpeers/build.sh puts Jaeger all-in-one: a cache directory keyed
// by the version tools/testpeers/go.mod pins. It returns a reason to skip when it is not built.
func jaegerBinary() (path, skip string) {
	version, err := pinnedVersion(testpeersGoMod, "github.com/jaegertracing/jaeger")
	if err != nil {
		return "", "cannot read the pinned Jaeger version: " + err.Error()
	}
	cache := os.Getenv("MESHLAB_CACHE")
	if cache == "" {
		cache = "/var/cache/meshlab"
	}
	path = filepath.Join(cache, "testpeers", version, "jaeger-all-in-one")
	if _, err := os.Stat(path); err != nil {
		return "", "Jaeger all-in-one " + version + " is not built at " + path +
			": run tools/testpeers/build.sh (.ci/run does)"
	}
	return path, ""
}

// pinnedVersion finds module's version in a go.mod's require lines.
func pinnedVersion(goMod, module string) (string, error) {
	f, err := os.Open(goMod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", os.ErrNotExist
}

// freeLoopbackPort returns a port that was free on 127.0.0.1 a moment ago.
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// peer is a third-party program a test started. It is stopped by its PID in t.Cleanup.
type peer struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func startPeer(t *testing.T, name, logPath string, env []string, argv ...string) *peer {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &peer{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitFor polls check until it returns nil, the peer exits, or the deadline passes.
func (p *peer) waitFor(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited (%v) while waiting for %s; log: %s\n%s", p.name, p.cmd.ProcessState, what, p.log, logTail(p.log))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s within %s: %v; log: %s\n%s", p.name, what, timeout, err, p.log, logTail(p.log))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func logTail(path string) string {
	data, _ := os.ReadFile(path)
	const n = 3000
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}
