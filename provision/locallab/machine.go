package locallab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// runcRoot keeps each lab's containers in their own runc state directory, so listing, killing
// and deleting can never touch a container that is not the lab's.
func runcRoot(lab string) string { return filepath.Join("/run/meshlab/runc", lab) }

// mountOverlay mounts the machine's root: the shared image read-only below, the machine's own
// changes above. Writes through the mount land in the upper layer.
func mountOverlay(p labPaths, node, lower string) error {
	merged := p.merged(node)
	if ok, err := isMountPoint(merged); err != nil || ok {
		return err
	}
	for _, d := range []string{p.upper(node), p.work(node), merged, p.containerd(node)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("machine %s: %w", node, err)
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + p.upper(node) + ",workdir=" + p.work(node)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return fmt.Errorf("machine %s: mount overlay on %s: %w", node, merged, err)
	}
	return nil
}

// identity is what makes a machine itself: written into its upper layer before the first boot.
type identity struct {
	Hostname      string
	MachineID     string
	HostKeyPEM    []byte
	HostKeyPublic []byte
	Authorized    []byte // authorized_keys for root and the sudo user
	Hosts         []byte // /etc/hosts
}

// writeIdentity writes a machine's identity files through its mounted root.
func writeIdentity(root string, id identity) error {
	files := []struct {
		path string
		data []byte
		mode os.FileMode
		uid  int
	}{
		{"etc/hostname", []byte(id.Hostname + "\n"), 0o644, 0},
		{"etc/machine-id", []byte(id.MachineID + "\n"), 0o444, 0},
		{"etc/hosts", id.Hosts, 0o644, 0},
		{"etc/ssh/ssh_host_ed25519_key", id.HostKeyPEM, 0o600, 0},
		{"etc/ssh/ssh_host_ed25519_key.pub", id.HostKeyPublic, 0o644, 0},
		{"root/.ssh/authorized_keys", id.Authorized, 0o600, 0},
		{"home/" + labUser + "/.ssh/authorized_keys", id.Authorized, 0o600, labUserUID},
	}
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := writeFileAtomic(p, f.data, f.mode); err != nil {
			return err
		}
		if strings.HasSuffix(filepath.Dir(p), ".ssh") {
			if err := os.Chmod(filepath.Dir(p), 0o700); err != nil {
				return fmt.Errorf("chmod %s: %w", filepath.Dir(p), err)
			}
			if err := os.Lchown(filepath.Dir(p), f.uid, f.uid); err != nil {
				return fmt.Errorf("chown %s: %w", filepath.Dir(p), err)
			}
		}
		if err := os.Lchown(p, f.uid, f.uid); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
	}
	return nil
}

// etcHosts lists every machine of the lab, so names resolve without DNS.
func etcHosts(nodes []Node) []byte {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, n := range nodes {
		fmt.Fprintf(&b, "%s\t%s\n", n.Address, n.Name)
	}
	return []byte(b.String())
}

// containerStatus is runc's view of a machine: "running", "stopped", "created", "paused", or ""
// when runc does not know it.
func containerStatus(ctx context.Context, r runner, lab, id string) (string, error) {
	out, err := r.output(ctx, "runc", "--root", runcRoot(lab), "state", id)
	if err != nil {
		if stderrContains(err, "does not exist", "not exist") {
			return "", nil
		}
		return "", fmt.Errorf("runc state %s: %w", id, err)
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return "", fmt.Errorf("runc state %s: %w", id, err)
	}
	return st.Status, nil
}

// startContainer boots a machine: runc run -d with the bundle's config.json. The console (systemd's
// own output) goes to console.log; runc must get files, not pipes, or it would never let go.
func startContainer(ctx context.Context, r runner, p labPaths, lab, node, id string) error {
	logf, err := os.OpenFile(p.consoleLog(node), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("machine %s: console log: %w", node, err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	args := []string{"--root", runcRoot(lab), "run", "--detach", "--pid-file", p.pidFile(node),
		"--bundle", p.bundle(node), id}
	cmd := exec.CommandContext(ctx, "runc", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	r.logger().Debug("run", "cmd", "runc "+strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		tail, _ := tailFile(p.consoleLog(node), 2048)
		ce := &CommandError{Command: "runc " + strings.Join(args, " "), Exit: -1, Stderr: tail, Err: err}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ce.Exit = ee.ExitCode()
		}
		return fmt.Errorf("machine %s: start: %w", node, ce)
	}
	return nil
}

// removeContainer kills a machine and deletes runc's record of it; an unknown one is fine.
func removeContainer(ctx context.Context, r runner, lab, id string) error {
	status, err := containerStatus(ctx, r, lab, id)
	if err != nil || status == "" {
		return err
	}
	if status != "stopped" {
		_ = r.run(ctx, "runc", "--root", runcRoot(lab), "kill", id, "KILL")
	}
	if err := r.run(ctx, "runc", "--root", runcRoot(lab), "delete", "--force", id); err != nil {
		if st, _ := containerStatus(ctx, r, lab, id); st != "" {
			return fmt.Errorf("delete machine %s: %w", id, err)
		}
	}
	return nil
}

// labContainers lists the runc ids in the lab's runc root.
func labContainers(lab string) ([]string, error) {
	entries, err := os.ReadDir(runcRoot(lab))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list machines of %s: %w", lab, err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// execIn runs a command inside a machine (runc exec) and returns its stdout.
func execIn(ctx context.Context, r runner, lab, id string, argv ...string) ([]byte, error) {
	return r.output(ctx, "runc", append([]string{"--root", runcRoot(lab), "exec", id}, argv...)...)
}

// removeCgroups deletes the empty cgroup directories runc leaves above a lab's machines
// (/meshlab/<lab> in every hierarchy). A busy one is left alone.
func removeCgroups(lab string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", "meshlab", lab))
	more, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "meshlab", lab)) // cgroup v2
	for _, d := range append(dirs, more...) {
		subs, _ := filepath.Glob(filepath.Join(d, "*"))
		for _, s := range subs {
			if fi, err := os.Stat(s); err == nil && fi.IsDir() {
				_ = os.Remove(s)
			}
		}
		_ = os.Remove(d)
		_ = os.Remove(filepath.Dir(d)) // "meshlab" itself, once no lab is left
	}
}

func tailFile(path string, n int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	off := fi.Size() - n
	if off < 0 {
		off = 0
	}
	buf := make([]byte, fi.Size()-off)
	_, err = f.ReadAt(buf, off)
	return string(buf), err
}
