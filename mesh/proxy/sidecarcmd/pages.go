package sidecarcmd

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseStartupPages drops this process's page-table entries for the read-only segments of its
// own executable (code and constants), so that RSS counts only the pages used from then on.
//
// Why: package initialisation and start-up touch code and data of many packages once (protobuf
// and Envoy API registrations, flag parsing, config compilation), and the kernel maps whole
// runs of cached pages around each fault. Those pages stay in the page cache, shared with every
// other sidecar running the same binary; only this process's mapping of them goes. A page used
// again is mapped again by a minor fault. Writable segments are never touched: MADV_DONTNEED on
// a private mapping would discard its modifications there.
func releaseStartupPages() (released int64, err error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00f51000 r-xp 00000000 fe:00 10389797 /path/to/exe
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return released, fmt.Errorf("release pages: bad line in /proc/self/maps: %q", sc.Text())
		}
		if err := madviseRange(uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); err != nil {
			return released, fmt.Errorf("release pages of %s %s: %w", exe, fields[0], err)
		}
		released += int64(end - start)
	}
	return released, sc.Err()
}

func madviseRange(start, length uintptr, advice int) error {
	_, _, errno := unix.Syscall(unix.SYS_MADVISE, start, length, uintptr(advice))
	if errno != 0 {
		return errno
	}
	return nil
}
