package phases

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/meshlab/meshlab/provision/engine"
)

// A fresh cloud image or Vagrant box is still busy when sshd answers: cloud-init installs
// packages, apt-daily refreshes the lists and unattended-upgrades upgrades, each holding the dpkg
// or apt locks for minutes. An apt-get or dpkg started then fails at once ("Could not get lock").
// FirstBoot waits until none of that runs, saying what it waits for; the playbook's apt-get calls
// wait for the lock themselves too (DPkg::Lock::Timeout), for what starts later.

// DefaultFirstBootTimeout bounds the wait per host: cloud-init's package upgrades on a slow mirror
// take minutes, never a quarter of an hour.
const DefaultFirstBootTimeout = 15 * time.Minute

// firstBootPoll is how often a busy host is looked at again.
const firstBootPoll = 3 * time.Second

// firstBootScript reports what keeps the package manager busy, one "key value" line each, without
// touching any lock itself: cloud-init's status, running apt-daily units, and the holder of each
// dpkg/apt lock from /proc/locks (the locks are fcntl locks; the file's inode identifies it).
const firstBootScript = `if command -v cloud-init >/dev/null 2>&1; then
  echo "cloud-init $(cloud-init status 2>/dev/null | sed -n 's/^status: *//p' | head -n 1)"
fi
if command -v systemctl >/dev/null 2>&1; then
  for u in apt-daily.service apt-daily-upgrade.service; do
    if systemctl is-active --quiet "$u"; then echo "unit $u"; fi
  done
fi
for f in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock; do
  [ -e "$f" ] || continue
  ino=$(stat -c %i "$f")
  pid=$(awk -v ino="$ino" '$2 != "->" { n = split($6, a, ":"); if (a[n] == ino) { print $5; exit } }' /proc/locks 2>/dev/null)
  # An open file description lock (OFDLCK) has no owner pid: -1.
  if [ -n "$pid" ]; then echo "lock $f $pid $(cat "/proc/$pid/comm" 2>/dev/null || echo 'unknown process')"; fi
done
true
`

// Busy is what keeps a host's package manager busy ("" fields: nothing).
type Busy struct {
	CloudInit string   // cloud-init's status when it is still running
	Units     []string // apt-daily units running
	Locks     []string // "/var/lib/dpkg/lock-frontend (held by 1234 unattended-upgr)"
}

// ParseBusy reads firstBootScript's output.
func ParseBusy(out string) Busy {
	var b Busy
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "cloud-init":
			// running; "done", "disabled", "error", "degraded done" or "not run" are finished
			// (with or without trouble): nothing more will come from it.
			if st := strings.Join(f[1:], " "); st == "running" {
				b.CloudInit = st
			}
		case "unit":
			b.Units = append(b.Units, f[1])
		case "lock":
			if len(f) >= 4 {
				b.Locks = append(b.Locks, fmt.Sprintf("%s (held by process %s, %s)", f[1], f[2], strings.Join(f[3:], " ")))
			}
		}
	}
	return b
}

// Idle says nothing holds the package manager.
func (b Busy) Idle() bool { return b.CloudInit == "" && len(b.Units) == 0 && len(b.Locks) == 0 }

func (b Busy) String() string {
	var parts []string
	if b.CloudInit != "" {
		parts = append(parts, "cloud-init is still setting the host up (cloud-init status: "+b.CloudInit+")")
	}
	if len(b.Units) > 0 {
		parts = append(parts, strings.Join(b.Units, " and ")+" running")
	}
	if len(b.Locks) > 0 {
		parts = append(parts, "the package manager is locked: "+strings.Join(b.Locks, "; "))
	}
	return strings.Join(parts, "; ")
}

// FirstBoot waits on every host until cloud-init has finished and no apt or dpkg run holds the
// package manager's locks. It changes nothing; on an idle host it reports nothing but a log line.
type FirstBoot struct {
	plan *plan
	poll time.Duration // how often a busy host is looked at again (default firstBootPoll)
}

var _ engine.DryRunner = (*FirstBoot)(nil)

func (*FirstBoot) Title() string { return "Wait for first-boot work (cloud-init, apt and dpkg locks)" }
func (*FirstBoot) Name() string  { return "first-boot" }

const firstBootTask = "Wait for cloud-init and the package manager"

func (fb *FirstBoot) Run(ctx context.Context, r *engine.Run) error {
	timeout, poll := fb.plan.FirstBootTimeout, fb.poll
	if timeout <= 0 {
		timeout = DefaultFirstBootTimeout
	}
	if poll <= 0 {
		poll = firstBootPoll
	}
	return r.ForEachHost(ctx, r.Hosts, func(ctx context.Context, h *engine.Host) error {
		t := newTask(r, h, "first-boot", firstBootTask)
		t.Log("polling every %s (up to %s):\n%s", poll, timeout, firstBootScript)
		start, lastSaid, said := time.Now(), time.Time{}, ""
		for {
			res, err := t.read(ctx, firstBootScript, time.Minute)
			if err != nil {
				return t.Fail(firstBootScript, "", err)
			}
			b := ParseBusy(res.Stdout)
			if b.Idle() {
				if said == "" {
					r.Logf(h, "first-boot", "no cloud-init, apt or dpkg run in progress")
					return nil
				}
				t.Done(fmt.Sprintf("waited %s", time.Since(start).Round(time.Second)))
				return nil
			}
			if said == "" {
				t.Begin("")
			}
			// Say what changed at once, and that it still waits every half minute.
			if now := b.String(); now != said || time.Since(lastSaid) >= 30*time.Second {
				t.Log("%s", now)
				t.Waiting(fmt.Sprintf("waiting: %s (%s so far, up to %s)", now, time.Since(start).Round(time.Second), timeout))
				said, lastSaid = now, time.Now()
			}
			if time.Since(start) >= timeout {
				return t.Fail("", "see what that process does (ps -fp PID); `cloud-init status --long` tells why cloud-init is not done; re-run `meshlab up` when it has finished",
					fmt.Errorf("still busy after %s: %s", timeout, b))
			}
			select {
			case <-ctx.Done():
				return t.Fail("", "", ctx.Err())
			case <-time.After(poll):
			}
		}
	})
}

// DryRun: nothing to wait for in a plan; with --probe, say what is busy now.
func (fb *FirstBoot) DryRun(ctx context.Context, r *engine.Run) error {
	if !r.Probe {
		return nil
	}
	return r.ForEachHost(ctx, r.Hosts, func(ctx context.Context, h *engine.Host) error {
		res, err := newTask(r, h, "first-boot", firstBootTask).read(ctx, firstBootScript, time.Minute)
		if err == nil {
			if b := ParseBusy(res.Stdout); !b.Idle() {
				r.Logf(h, "first-boot", "would wait: %s", b)
			}
		}
		return nil
	})
}
