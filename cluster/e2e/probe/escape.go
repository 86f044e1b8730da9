package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// escape tries, from a privileged pod with the node's PID and network namespaces, the ways out
// of a lab machine onto its host, one line per attempt: "BLOCKED what: error" or "ESCAPED what".
// It exits 1 if any attempt got through. Every attempt only reads or fails: nothing on the host
// is changed when one succeeds.
//
//	probe escape HOSTADDR:PORT MARKER MAJ:MIN[,MAJ:MIN...]
//
// HOSTADDR:PORT is a listener on the host's bridge address, MARKER a file the test made on the
// host's root filesystem, MAJ:MIN the host's block devices (from its /proc/partitions).
func escape(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: probe escape HOSTADDR:PORT MARKER MAJ:MIN[,MAJ:MIN...]")
	}
	service, marker, devs := args[0], args[1], strings.Split(args[2], ",")
	escaped := 0
	report := func(what string, err error) {
		if err != nil {
			fmt.Printf("BLOCKED %s: %v\n", what, err)
			return
		}
		fmt.Printf("ESCAPED %s\n", what)
		escaped++
	}

	// The host's services, at the one host address a machine can route to.
	c, err := net.DialTimeout("tcp", service, 5*time.Second)
	if err == nil {
		c.Close()
	}
	report("connect to the host's service at "+service, err)

	// The host's root filesystem through PID 1's root (hostPID: the machine's init).
	_, err = os.Stat("/proc/1/root" + marker)
	if err == nil {
		report("see "+marker+" of the host's / through /proc/1/root", nil)
	} else {
		report("see "+marker+" of the host's / through /proc/1/root", fmt.Errorf("%w (PID 1 is the machine's init; its / is the machine's own)", err))
	}

	// Scratch room for device nodes and mount points (the probe's image is FROM scratch).
	if err := os.MkdirAll("/tmp", 0o1777); err != nil {
		return err
	}

	// Capabilities that act on the host's kernel whatever the namespaces: the machine must not
	// have them, so a privileged pod in it cannot either.
	for _, c := range []struct {
		bit  uint
		name string
	}{{2, "CAP_DAC_READ_SEARCH"}, {16, "CAP_SYS_MODULE"}, {17, "CAP_SYS_RAWIO"}, {22, "CAP_SYS_BOOT"}, {25, "CAP_SYS_TIME"}} {
		eff, err := effectiveCaps()
		if err == nil && eff&(1<<c.bit) != 0 {
			report("hold "+c.name+" in a privileged pod", nil)
			continue
		}
		if err == nil {
			err = fmt.Errorf("not in the pod's effective set (CapEff %016x)", eff)
		}
		report("hold "+c.name+" in a privileged pod", err)
	}

	// The host's disks: a device node is easy to make, opening it is what the device cgroup stops.
	for i, d := range devs {
		maj, min, ok := strings.Cut(d, ":")
		ma, err1 := strconv.Atoi(maj)
		mi, err2 := strconv.Atoi(min)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("block device %q: want MAJ:MIN", d)
		}
		node := fmt.Sprintf("/tmp/hostdisk%d", i)
		_ = os.Remove(node)
		if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(unix.Mkdev(uint32(ma), uint32(mi)))); err != nil {
			report("make a node for the host's block device "+d, err)
			continue
		}
		f, err := os.Open(node)
		if err == nil {
			buf := make([]byte, 512)
			_, err = f.Read(buf)
			f.Close()
		}
		report("read the host's block device "+d, err)
		_ = os.MkdirAll("/tmp/hostmnt", 0o755)
		// noload: a read-only ext4 mount must not replay a journal onto the device either.
		err = unix.Mount(node, "/tmp/hostmnt", "ext4", unix.MS_RDONLY, "noload")
		if err == nil {
			_ = unix.Unmount("/tmp/hostmnt", 0)
		}
		report("mount the host's block device "+d+" read-only", err)
		_ = os.Remove(node)
	}

	// /dev/mem: the host's physical memory.
	_ = os.Remove("/tmp/mem")
	if err := unix.Mknod("/tmp/mem", unix.S_IFCHR|0o600, int(unix.Mkdev(1, 1))); err != nil {
		report("make /dev/mem", err)
	} else {
		f, err := os.Open("/tmp/mem")
		if err == nil {
			f.Close()
		}
		report("open /dev/mem", err)
		_ = os.Remove("/tmp/mem")
	}

	// open_by_handle_at ("shocker"): a file of the filesystem behind a bind mount, by handle,
	// past the mount's root. Needs CAP_DAC_READ_SEARCH.
	if h, mnt, err := unix.NameToHandleAt(unix.AT_FDCWD, "/etc/hostname", 0); err != nil {
		report("name_to_handle_at", err)
	} else {
		dirfd, err := unix.Open("/etc", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err == nil {
			var fd int
			fd, err = unix.OpenByHandleAt(dirfd, h, unix.O_RDONLY)
			if err == nil {
				unix.Close(fd)
			}
			unix.Close(dirfd)
		}
		report(fmt.Sprintf("open_by_handle_at (mount id %d)", mnt), err)
	}

	// A kernel module into the host's kernel: an empty image is refused for lack of the
	// capability before it is ever parsed.
	if err := unix.InitModule([]byte{}, ""); errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
		report("load a kernel module (init_module)", err) // ENOSYS: this kernel loads no modules at all
	} else {
		report(fmt.Sprintf("load a kernel module (init_module: %v, so the capability is there)", err), nil)
	}

	// cgroup v1 release_agent: runs a program on the host when a cgroup empties.
	_ = os.MkdirAll("/tmp/cg", 0o755)
	if err := unix.Mount("cgroup", "/tmp/cg", "cgroup", 0, "memory"); err != nil {
		report("mount a cgroup v1 hierarchy for release_agent", err)
	} else {
		err := os.WriteFile("/tmp/cg/release_agent", []byte("/bin/true"), 0o644)
		if err == nil {
			// A write that went through: put back what was there (nothing, in a lab).
			_ = os.WriteFile("/tmp/cg/release_agent", []byte("\n"), 0o644)
		}
		report("set the cgroup release_agent", err)
		_ = unix.Unmount("/tmp/cg", 0)
	}

	// The machine's own view of the kernel knobs that run host programs.
	if b, err := os.ReadFile("/proc/1/root/proc/sys/kernel/core_pattern"); err == nil && len(bytes.TrimSpace(b)) > 0 {
		report("read kernel.core_pattern in the machine's /proc", nil)
	} else {
		report("read kernel.core_pattern in the machine's /proc", fmt.Errorf("masked (reads %q, err %v)", b, err))
	}

	if escaped > 0 {
		return fmt.Errorf("%d attempt(s) got through", escaped)
	}
	return nil
}

// effectiveCaps reads this process's effective capability mask.
func effectiveCaps() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff in /proc/self/status")
}
