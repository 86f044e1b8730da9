package locallab

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// machineSpec is what differs between machines in their runc config.json.
type machineSpec struct {
	Hostname      string // the machine's hostname (UTS namespace)
	NetnsPath     string // /run/netns/<name>: the machine's own network namespace, made before boot
	CgroupsPath   string // absolute cgroup path, unique per machine
	ContainerdDir string // host directory bind-mounted at /var/lib/containerd
	CapBounding   uint64 // the host's bounding set (CapBnd): a machine cannot get more
}

// allCapabilities is the full capability set a systemd machine running kubeadm needs, indexed by
// capability number. Only those in the host's bounding set are granted: this kernel withholds
// CAP_SYS_RESOURCE, and asking runc for it fails the start ("unable to apply caps").
var allCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// buildSpec returns the runc spec of one machine. The settings are the ones with which systemd
// booted and kubeadm v1.34.2 ran inside a runc container on this kind of host: a cgroup namespace
// with a writable cgroup mount (systemd manages its own tree), a writable /sys (kubelet,
// containerd), tmpfs /run and /tmp (systemd expects them empty at boot), /dev/kmsg for kubelet, no
// rlimits and no oomScoreAdj (this kernel denies raising them), all capabilities, every device
// allowed, and no masked or read-only paths. Root is writable: it is the machine's own overlay.
func buildSpec(m machineSpec) *specs.Spec {
	var caps []string
	for i, c := range allCapabilities {
		if m.CapBounding&(1<<uint(i)) != 0 {
			caps = append(caps, c)
		}
	}
	return &specs.Spec{
		Version:  "1.0.2",
		Hostname: m.Hostname,
		Root:     &specs.Root{Path: "rootfs", Readonly: false},
		Process: &specs.Process{
			Terminal: false,
			User:     specs.User{UID: 0, GID: 0},
			Args:     []string{"/sbin/init"},
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"container=runc", // tells systemd it runs in a container (no udev, no hardware units)
			},
			Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Effective: caps,
				Permitted: caps,
			},
			NoNewPrivileges: false,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
				Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
				Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
				Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev/kmsg", Type: "bind", Source: "/dev/kmsg",
				Options: []string{"rbind", "rw"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs",
				Options: []string{"nosuid", "noexec", "nodev", "rw"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
				Options: []string{"nosuid", "noexec", "nodev", "relatime", "rw"}},
			{Destination: "/run", Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "nodev", "mode=755"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "nodev", "mode=1777"}},
			// containerd's overlayfs snapshotter cannot stack on the machine's overlay root.
			{Destination: "/var/lib/containerd", Type: "bind", Source: m.ContainerdDir,
				Options: []string{"rbind", "rw"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: m.CgroupsPath,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace, Path: m.NetnsPath},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.CgroupNamespace},
			},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}},
			},
		},
	}
}

// hostCapBounding reads this process's capability bounding set from /proc/self/status.
func hostCapBounding() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read capabilities: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("parse CapBnd %q: %w", v, err)
			}
			return mask, nil
		}
	}
	return 0, fmt.Errorf("no CapBnd line in /proc/self/status")
}

// marshalSpec renders a spec as the indented JSON runc reads from the bundle's config.json.
func marshalSpec(s *specs.Spec) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("encode runc spec: %w", err)
	}
	return append(b, '\n'), nil
}
