package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Lab is two "pods" (network namespaces) on a private bridge: the client's and the server's.
// It mirrors mesh/localmesh's layout (veth into a bridge, pod addresses in one /24) without its
// sidecars, so that the benchmark can run the same pods with no proxy, with meshlab's sidecars
// and with HAProxy in the sidecars' places.
//
// Network safety: the pods have no default route, only their /24, so nothing they send can leave
// the bridge; the host's address on the bridge is there only to poll the sidecars' health ports.
type Lab struct {
	Prefix  netip.Prefix // e.g. 10.216.0.0/24
	Gateway netip.Addr   // the host's address on the bridge (.1)
	Client  netip.Addr   // pod A (.10)
	Server  netip.Addr   // pod B (.11)
	// VIP is the server's service address (.100). Nothing owns it: only capture in the client's
	// pod makes a connection to it work, as with a Kubernetes ClusterIP.
	VIP netip.Addr
	// Name is a 1–4 character tag in every interface and namespace name.
	Name string

	lock *os.File // held from Up to Down: one run of a lab at a time
}

// NewLab plans a lab on prefix (a /24) without creating anything.
func NewLab(name string, prefix netip.Prefix) (*Lab, error) {
	if len(name) == 0 || len(name) > 4 || strings.ContainsAny(name, " /") {
		return nil, fmt.Errorf("lab name %q: use 1 to 4 letters or digits (it goes into interface names)", name)
	}
	if !prefix.Addr().Is4() || prefix.Bits() != 24 {
		return nil, fmt.Errorf("lab network %s: want an IPv4 /24", prefix)
	}
	base := prefix.Masked().Addr().As4()
	at := func(host byte) netip.Addr { b := base; b[3] = host; return netip.AddrFrom4(b) }
	return &Lab{Prefix: prefix.Masked(), Gateway: at(1), Client: at(10), Server: at(11), VIP: at(100), Name: name}, nil
}

// Netns is the namespace name of pod "client" or "server".
func (l *Lab) Netns(pod string) string { return "mlb-" + l.Name + "-" + pod }

func (l *Lab) bridge() string             { return "mlb-" + l.Name }
func (l *Lab) hostVeth(pod string) string { return "mlb" + l.Name + pod[:1] }

func (l *Lab) podAddr(pod string) netip.Addr {
	if pod == "client" {
		return l.Client
	}
	return l.Server
}

// Up creates the bridge and both pods, after removing leftovers of an earlier run. It fails at
// once while another process runs the same lab: that run's pods would be torn down under it.
func (l *Lab) Up(ctx context.Context) (err error) {
	lock, err := lockLab(l.Name)
	if err != nil {
		return err
	}
	l.Down(ctx) // leftovers of a run that did not finish
	l.lock = lock
	defer func() {
		if err != nil {
			l.Down(context.WithoutCancel(ctx)) // what was made, and the lock
		}
	}()
	if route, ok := overlappingRoute(ctx, l.Prefix); ok {
		return fmt.Errorf("bench lab: %s overlaps the route %q on this machine", l.Prefix, route)
	}
	steps := [][]string{
		{"ip", "link", "add", l.bridge(), "type", "bridge"},
		{"ip", "addr", "add", netip.PrefixFrom(l.Gateway, 24).String(), "dev", l.bridge()},
		{"ip", "link", "set", l.bridge(), "up"},
	}
	for _, pod := range []string{"client", "server"} {
		ns, veth := l.Netns(pod), l.hostVeth(pod)
		steps = append(steps,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"ip", "link", "set", veth, "master", l.bridge(), "up"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
			[]string{"ip", "-n", ns, "addr", "add", netip.PrefixFrom(l.podAddr(pod), 24).String(), "dev", "eth0"},
			[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
		)
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return fmt.Errorf("bench lab: %w", err)
		}
	}
	return nil
}

// lockLab takes the lab's lock file without waiting; the lock ends when the file is closed (or
// the process exits, so a killed run leaves no stale lock).
func lockLab(name string) (*os.File, error) {
	path := filepath.Join(os.TempDir(), "meshlab-bench-"+name+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bench lab: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench lab %s: another benchmark is running it (%s is locked): wait for it to finish", name, path)
	}
	return f, nil
}

// Down removes everything Up creates, ignoring what is already gone.
func (l *Lab) Down(ctx context.Context) {
	for _, pod := range []string{"client", "server"} {
		_ = run(ctx, "ip", "link", "del", l.hostVeth(pod))
		_ = run(ctx, "ip", "netns", "del", l.Netns(pod))
	}
	_ = run(ctx, "ip", "link", "del", l.bridge())
	if l.lock != nil {
		l.lock.Close() // releases the flock
		l.lock = nil
	}
}

// Capture installs meshlab's capture rules (`meshlab mesh init` or `meshlab-proxy init`: sidecar
// is the argv prefix before "init") in both pods.
func (l *Lab) Capture(ctx context.Context, sidecar []string) error {
	for _, pod := range []string{"client", "server"} {
		argv := append([]string{"ip", "netns", "exec", l.Netns(pod)}, sidecar...)
		if err := run(ctx, append(argv, "init")...); err != nil {
			return fmt.Errorf("bench lab: capture in pod %s: %w", pod, err)
		}
	}
	return nil
}

// Command returns argv to run inside pod as uid (and the same gid), for exec.Command.
func (l *Lab) Command(pod string, uid int, argv ...string) []string {
	id := fmt.Sprint(uid)
	return append([]string{"ip", "netns", "exec", l.Netns(pod),
		"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups", "--"}, argv...)
}

func run(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// overlappingRoute returns a route of this machine that overlaps p (the default route aside).
func overlappingRoute(ctx context.Context, p netip.Prefix) (string, bool) {
	out, err := exec.CommandContext(ctx, "ip", "-o", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		dst := fields[0]
		switch dst {
		case "local", "broadcast", "unreachable", "blackhole", "prohibit":
			if len(fields) < 2 {
				continue
			}
			dst = fields[1]
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		if r, err := netip.ParsePrefix(dst); err == nil && r.Bits() > 0 && r.Overlaps(p) {
			return line, true
		}
	}
	return "", false
}

// writeFile writes a config file readable by the pods' users (the proxy runs as UID 1337).
func writeFile(dir, name, content string) (string, error) {
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, []byte(content), 0o644)
}
