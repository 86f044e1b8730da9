package locallab

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Rootfs recipe. Changing the suite, the package list or what prepareRootfs does must change the
// cache key; bump recipeVersion for the last.
const (
	suite         = "bookworm"
	recipeVersion = "1"
	labUser       = "meshlab" // the sudo user (NOPASSWD) every machine has besides root
	labUserUID    = 1000
)

// rootfsPackages is what debootstrap adds to minbase: systemd as init, sshd, and the tools
// kubeadm's preflight and kube-proxy expect on a node.
var rootfsPackages = []string{
	"systemd", "systemd-sysv", "openssh-server", "iproute2", "dbus", "iptables", "conntrack",
	"socat", "ethtool", "ca-certificates", "kmod", "sudo", "procps",
}

// rootfsKey is the cache key of a rootfs: the same inputs give the same machine image.
func rootfsKey() string {
	pkgs := append([]string(nil), rootfsPackages...)
	sort.Strings(pkgs)
	sum := sha256.Sum256([]byte(suite + "\n" + strings.Join(pkgs, ",") + "\n" + recipeVersion))
	return suite + "-" + hex.EncodeToString(sum[:6])
}

// cachedRootfs returns the directory of the machine image, building it with debootstrap when the
// cache does not have it yet. A lock serialises concurrent builds of the same key; the image only
// appears under its final name once complete, so a build that dies leaves nothing to trust.
func cachedRootfs(ctx context.Context, r runner, cacheDir, mirror string, progress func(string)) (string, error) {
	dir := filepath.Join(cacheDir, "rootfs", rootfsKey())
	final := filepath.Join(dir, "rootfs")
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("rootfs cache %s: %w", dir, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(dir, "lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return final, nil // another create built it while we waited for the lock
	}
	if mirror == "" {
		if mirror, err = aptMirror(); err != nil {
			return "", err
		}
	}
	tmp := filepath.Join(dir, "building")
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("clear half-built rootfs %s: %w", tmp, err)
	}
	if err := os.RemoveAll(final); err != nil {
		return "", fmt.Errorf("clear incomplete rootfs %s: %w", final, err)
	}
	progress(fmt.Sprintf("building the machine image with debootstrap %s from %s (once; about 2 minutes)", suite, mirror))
	if err := r.run(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(rootfsPackages, ","),
		suite, tmp, mirror); err != nil {
		return "", fmt.Errorf("debootstrap into %s: %w", tmp, err)
	}
	if err := prepareRootfs(ctx, r, tmp); err != nil {
		return "", fmt.Errorf("prepare rootfs %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("publish rootfs: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "complete"), []byte(rootfsKey()+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("mark rootfs complete: %w", err)
	}
	return final, nil
}

// prepareRootfs makes the debootstrapped tree a machine image that every machine shares: no host
// keys or machine-id baked in (each machine gets its own before boot), a sudo user, and no DNS
// server copied from this host (machines must not send DNS off the machine).
func prepareRootfs(ctx context.Context, r runner, root string) error {
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return fmt.Errorf("remove shared host key: %w", err)
		}
	}
	if err := r.run(ctx, "chroot", root, "useradd", "--create-home", "--shell", "/bin/bash",
		"--uid", fmt.Sprint(labUserUID), "--user-group", labUser); err != nil {
		return fmt.Errorf("add user %s: %w", labUser, err)
	}
	files := map[string]string{
		"etc/sudoers.d/meshlab": labUser + " ALL=(ALL) NOPASSWD:ALL\n",
		"etc/machine-id":        "", // empty: systemd would invent one; each machine gets its own
		"etc/resolv.conf":       "# meshlab lab machine: no DNS server off this machine\n",
		"etc/ssh/sshd_config.d/meshlab.conf": "HostKey /etc/ssh/ssh_host_ed25519_key\n" +
			"PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n",
	}
	for name, body := range files {
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "etc/sudoers.d/") {
			mode = 0o440
		}
		if err := writeFileAtomic(filepath.Join(root, name), []byte(body), mode); err != nil {
			return err
		}
	}
	return nil
}

// aptMirror returns the first Debian mirror URI in this host's apt sources that serves the suite.
func aptMirror() (string, error) {
	paths := []string{"/etc/apt/sources.list"}
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	paths = append(paths, more...)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if uri := mirrorFromSources(string(b), suite); uri != "" {
			return uri, nil
		}
	}
	return "", fmt.Errorf("no Debian mirror for %s in /etc/apt/sources.list{,.d}: pass one explicitly", suite)
}

// mirrorFromSources finds a `deb` URI serving suite in one-line or deb822 apt sources text.
func mirrorFromSources(text, suite string) string {
	// deb822 stanzas are separated by blank lines; one-line entries are single lines.
	var uris, suites []string
	isDeb := false
	flush := func() string {
		defer func() { uris, suites, isDeb = nil, nil, false }()
		if !isDeb {
			return ""
		}
		for _, s := range suites {
			if s == suite && len(uris) > 0 {
				return uris[0]
			}
		}
		return ""
	}
	sc := bufio.NewScanner(strings.NewReader(text + "\n\n"))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if line == "" {
			if u := flush(); u != "" {
				return u
			}
			continue
		}
		f := strings.Fields(line)
		switch strings.ToLower(f[0]) {
		case "deb":
			f = f[1:]
			if len(f) > 0 && strings.HasPrefix(f[0], "[") { // options: [arch=amd64 signed-by=...]
				for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
					f = f[1:]
				}
				if len(f) > 0 {
					f = f[1:]
				}
			}
			if len(f) >= 2 && f[1] == suite {
				return f[0]
			}
		case "types:":
			isDeb = contains(f[1:], "deb")
		case "uris:":
			uris = f[1:]
		case "suites:":
			suites = f[1:]
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// lockFile takes an exclusive flock on path, polling so that ctx can cancel the wait.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); _ = f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if werr := sleepCtx(ctx, pollInterval); werr != nil {
			_ = f.Close()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, werr)
		}
	}
}

// writeFileAtomic writes a file (creating its directory) via a temporary name and a rename.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := path + ".meshlab-tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile's mode is filtered by the umask
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
