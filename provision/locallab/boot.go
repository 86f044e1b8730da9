package locallab

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// pollInterval is how often a wait looks again. Every wait also has a deadline (its context).
const pollInterval = 200 * time.Millisecond

// bootStatus is what a machine looked like at the last poll.
type bootStatus struct {
	System string // systemctl is-system-running: starting, running, degraded, ...
	SSH    error  // nil once sshd answered with its banner
}

func (b bootStatus) ready() bool {
	return (b.System == "running" || b.System == "degraded") && b.SSH == nil
}

func (b bootStatus) String() string {
	ssh := "answers"
	if b.SSH != nil {
		ssh = "not yet (" + b.SSH.Error() + ")"
	}
	sys := b.System
	if sys == "" {
		sys = "unknown"
	}
	return "systemd " + sys + ", sshd " + ssh
}

// waitBooted polls until systemd says running (or degraded) and sshd sends its banner on port 22,
// reporting what it waits for through wait each time the picture changes.
func waitBooted(ctx context.Context, r runner, lab, id, address string, wait func(string)) error {
	var last bootStatus
	first := true
	for {
		st := probeBoot(ctx, r, lab, id, address)
		if st.ready() {
			return nil
		}
		if first || st.System != last.System || (st.SSH == nil) != (last.SSH == nil) {
			wait(fmt.Sprintf("waiting for %s to boot: %s", id, st))
			first = false
		}
		last = st
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return fmt.Errorf("machine %s did not finish booting (%s): %w", id, last, err)
		}
	}
}

func probeBoot(ctx context.Context, r runner, lab, id, address string) bootStatus {
	var st bootStatus
	// is-system-running exits non-zero for anything but "running"; its stdout still says the state.
	out, _ := execIn(ctx, r, lab, id, "systemctl", "is-system-running")
	st.System = strings.TrimSpace(string(out))
	st.SSH = sshBanner(ctx, net.JoinHostPort(address, "22"))
	return st
}

// sshBanner dials addr and reads the SSH identification line, proving sshd itself answers (a
// bare TCP accept could be systemd socket activation or a half-started daemon).
func sshBanner(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read SSH banner from %s: %w", addr, err)
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("%s answered %q, not an SSH banner", addr, strings.TrimSpace(line))
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
