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

// capabilityNames are the capabilities by number (CAP_CHOWN is 0), to read the host's bounding mask.
var capabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// machineCapabilities are the capabilities a machine keeps: what systemd, sshd, containerd (and
// the runc it starts), the kubelet and kube-proxy need on it, and nothing more. A pod can never
// hold a capability its machine lacks, so containerd's default set for pods is here too.
var machineCapabilities = map[string]string{
	"CAP_CHOWN":            "dpkg, containerd unpacking image layers with their owners, kubelet volumes",
	"CAP_DAC_OVERRIDE":     "root working on files it does not own (systemd, dpkg, containerd); containerd's pod default",
	"CAP_FOWNER":           "chmod/utime on files of other owners when unpacking images; containerd's pod default",
	"CAP_FSETID":           "keeping setuid/setgid bits when unpacking images; containerd's pod default",
	"CAP_KILL":             "systemd, containerd and the kubelet stop processes they do not own",
	"CAP_SETGID":           "sshd, sudo and runc switch groups",
	"CAP_SETUID":           "sshd, sudo and runc switch users",
	"CAP_SETPCAP":          "runc drops capabilities for each container",
	"CAP_SETFCAP":          "file capabilities in image layers (ping in Debian images); containerd's pod default",
	"CAP_NET_BIND_SERVICE": "sshd on 22, CoreDNS on 53; containerd's pod default",
	"CAP_NET_ADMIN":        "network namespaces, veths, routes and iptables: the CNI plugins, Flannel, kube-proxy, the mesh's capture rules",
	"CAP_NET_RAW":          "iptables and raw sockets for kube-proxy and Flannel; containerd's pod default",
	"CAP_MKNOD":            "runc makes each container's /dev, overlayfs whiteouts when image layers delete files; containerd's pod default",
	"CAP_SYS_CHROOT":       "runc's pivot_root, sshd's privilege separation; containerd's pod default",
	"CAP_AUDIT_WRITE":      "sshd and sudo log logins through PAM; containerd's pod default",
	"CAP_SYS_ADMIN":        "mounts and namespaces: systemd, containerd's snapshots, runc, the kubelet's volumes (no container runtime runs without it)",
	"CAP_SYSLOG":           "the kubelet opens /dev/kmsg for OOM events and exits if it cannot (the host has dmesg_restrict=1)",
}

// Left out on purpose, among others: CAP_SYS_MODULE (loading modules into the host's kernel),
// CAP_SYS_RAWIO (I/O ports, /dev/mem), CAP_DAC_READ_SEARCH (open_by_handle_at reaches any file
// of a host filesystem), CAP_SYS_BOOT (kexec), CAP_SYS_TIME (the host's clock), CAP_SYS_PTRACE,
// CAP_SYS_NICE, CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE (the host withholds it anyway).

// machineDevices is the device cgroup of a machine: everything denied, then what systemd, sshd,
// the kubelet and runc's containers use. runc's default rules for every container (mknod of any
// node, the standard character devices, ptys and tun) must be a subset, since a child cgroup can
// never allow more than its parent. No block device can be opened: a machine cannot read or
// mount the host's disks even with a device node for them.
var machineDevices = []specs.LinuxDeviceCgroup{
	{Allow: false, Access: "rwm"},
	{Allow: true, Type: "c", Access: "m"}, // mknod of any character device (opening is what counts)
	{Allow: true, Type: "b", Access: "m"}, // and of any block device: runc's container default
	charDevice(1, 3),                      // /dev/null
	charDevice(1, 5),                      // /dev/zero
	charDevice(1, 7),                      // /dev/full
	charDevice(1, 8),                      // /dev/random
	charDevice(1, 9),                      // /dev/urandom
	charDevice(1, 11),                     // /dev/kmsg: the kubelet's OOM watcher
	charDevice(5, 0),                      // /dev/tty
	charDevice(5, 1),                      // /dev/console: systemd
	charDevice(5, 2),                      // /dev/ptmx: sshd sessions, container terminals
	{Allow: true, Type: "c", Major: ptr(int64(136)), Access: "rwm"}, // /dev/pts/*
	charDevice(10, 200), // /dev/net/tun: runc's container default
}

func charDevice(major, minor int64) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: ptr(major), Minor: ptr(minor), Access: "rwm"}
}

func ptr[T any](v T) *T { return &v }

// maskedPaths are runc's defaults (what `runc spec` writes), plus the kernel settings that make
// the host run a program of the machine's choosing (a core dump pipe, the module loader, the
// power-off command): behind /dev/null they read empty and writes go nowhere.
var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
	"/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/sys/devices/virtual/powercap", "/proc/scsi",
	"/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/kernel/poweroff_cmd",
}

// readonlyPaths are runc's defaults but /proc/sys: the kubelet sets six kernel-wide tunables at
// start (vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops,
// kernel.keys.root_maxkeys and root_maxbytes) and exits if it cannot, and kube-proxy, the CNI
// plugins and os-prep write the machine's own network settings (/proc/sys/net, per network
// namespace). runc allows no bind mount inside /proc to make only those writable.
var readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger"}

// buildSpec returns the runc spec of one machine. The settings are the ones with which systemd
// booted and kubeadm v1.34.2 ran inside a runc container on this kind of host: a cgroup namespace
// with a writable cgroup mount (systemd manages its own tree), tmpfs /run and /tmp (systemd
// expects them empty at boot), /dev/kmsg for kubelet, no rlimits and no oomScoreAdj (this kernel
// denies raising them). What a machine may do to its host is cut to what the lab needs (docs/local-lab.md):
// the capabilities in machineCapabilities, the devices in machineDevices, runc's masked and
// read-only paths (maskedPaths, readonlyPaths), sysfs read-only. Root is writable: it is the
// machine's own overlay.
func buildSpec(m machineSpec) *specs.Spec {
	var caps []string
	for i, c := range capabilityNames {
		if _, keep := machineCapabilities[c]; keep && m.CapBounding&(1<<uint(i)) != 0 {
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
			// Read-only: the kernel's global knobs under /sys (module parameters, power, block
			// queues) are not the machine's; the cgroup mount below it stays writable for systemd.
			{Destination: "/sys", Type: "sysfs", Source: "sysfs",
				Options: []string{"nosuid", "noexec", "nodev", "ro"}},
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
			Resources:     &specs.LinuxResources{Devices: machineDevices},
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
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
