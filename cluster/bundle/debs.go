package bundle

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/meshlab/meshlab/provision/versions"
)

// Deb is one Debian package at an exact version.
type Deb struct{ Name, Version string }

func (d Deb) String() string { return d.Name + "=" + d.Version }

// RuntimeDebs are the Debian 12 (bookworm) packages a lab host needs besides the bundle's
// binaries: the container runtime and what kubeadm's preflight checks for (iptables,
// conntrack, socat, ethtool, ebtables), with the libraries a minbase system lacks, in an
// order `dpkg -i` accepts one by one. Versions from `apt-cache policy` on bookworm +
// bookworm-security, 2026-11; containerd and runc come from the pinned-versions table.
func RuntimeDebs(s versions.Set) []Deb {
	return []Deb{
		{"libseccomp2", "2.5.4-1+deb12u1"},
		{"runc", s.DebianRuntime.Runc},
		{"containerd", s.DebianRuntime.Containerd},
		{"libmnl0", "1.0.4-3"},
		{"libnfnetlink0", "1.0.2-2"},
		{"libnetfilter-conntrack3", "1.0.9-3"},
		{"libnftnl11", "1.2.4-2"},
		{"libxtables12", "1.8.9-2"},
		{"libip4tc2", "1.8.9-2"},
		{"libip6tc2", "1.8.9-2"},
		{"netbase", "6.4"},
		{"iptables", "1.8.9-2"},
		{"conntrack", "1:1.4.7-1+b2"},
		{"libwrap0", "7.6.q-32"},
		{"libssl3", "3.0.22-1~deb12u2"},
		{"socat", "1.7.4.4-2"},
		{"ethtool", "1:6.1-1"},
		{"ebtables", "2.0.11-5"},
	}
}

// netfilterDebs make the userspace of the kube-proxy and flanneld images: iptables (legacy
// and nft back ends) and nft, with exactly the shared libraries they load.
func netfilterDebs() []Deb {
	return []Deb{
		{"libc6", "2.36-9+deb12u14"},
		{"libmnl0", "1.0.4-3"},
		{"libnfnetlink0", "1.0.2-2"},
		{"libnetfilter-conntrack3", "1.0.9-3"},
		{"libnftnl11", "1.2.4-2"},
		{"libxtables12", "1.8.9-2"},
		{"libip4tc2", "1.8.9-2"},
		{"libip6tc2", "1.8.9-2"},
		{"iptables", "1.8.9-2"},
		{"conntrack", "1:1.4.7-1+b2"},
		{"libjansson4", "2.14-2"},
		{"libgmp10", "2:6.2.1+dfsg1-1.1"},
		{"libmd0", "1.0.4-2"},
		{"libbsd0", "0.11.7-2"},
		{"libtinfo6", "6.4-4"},
		{"libedit2", "3.1-20221030-2"},
		{"libnftables1", "1.0.6-2+deb12u2"},
		{"nftables", "1.0.6-2+deb12u2"},
	}
}

// debFile finds the file apt-get download saved for a package in dir: epochs are %3a-escaped
// and the architecture is amd64 or, for packages such as netbase, all.
func debFile(dir string, d Deb) (string, error) {
	v := strings.ReplaceAll(d.Version, ":", "%3a")
	for _, arch := range []string{"amd64", "all"} {
		name := fmt.Sprintf("%s_%s_%s.deb", d.Name, v, arch)
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return name, nil
		}
	}
	return "", fmt.Errorf("%s: no %s_%s_{amd64,all}.deb in %s", d, d.Name, v, dir)
}

// fetchDebs downloads the packages at their pinned versions into dir with apt-get download
// (which checks them against the signed archive index), skipping files already there.
func fetchDebs(ctx context.Context, dir string, debs []Deb) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var want []string
	for _, d := range debs {
		if _, err := debFile(dir, d); err != nil {
			want = append(want, d.String())
		}
	}
	if len(want) == 0 {
		return nil
	}
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"download", "-q"}, want...)...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get download %s (in %s): %w: %s", strings.Join(want, " "), dir, err, tail(out.String(), 10))
	}
	for _, d := range debs {
		if _, err := debFile(dir, d); err != nil {
			return fmt.Errorf("apt-get download: %w", err)
		}
	}
	return nil
}

// extractDebs unpacks the packages' files (not their maintainer scripts) into root with
// dpkg-deb -x, as a base for an image layer.
func extractDebs(ctx context.Context, debDir, root string, debs []Deb) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	for _, d := range debs {
		f, err := debFile(debDir, d)
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "dpkg-deb", "-x", filepath.Join(debDir, f), root)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("dpkg-deb -x %s: %w: %s", f, err, tail(string(out), 5))
		}
	}
	return nil
}

// skipDocs drops documentation, manuals and locales from an extracted rootfs: nothing in the
// images reads them.
func skipDocs(p string) bool {
	for _, pre := range []string{"/usr/share/doc", "/usr/share/man", "/usr/share/info",
		"/usr/share/locale", "/usr/share/lintian", "/usr/share/bug"} {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	return false
}
