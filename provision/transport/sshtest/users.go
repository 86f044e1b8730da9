package sshtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"syscall"
)

// Test users created on the machine (once, idempotently) for sudo tests. They are throwaway
// accounts: the password is public on purpose and only ever used against loopback sshd.
const (
	// UserSudoNoPassword may run anything with `sudo -n` (NOPASSWD).
	UserSudoNoPassword = "meshlab-test-nopw"
	// UserSudoPassword must give TestPassword to sudo; credentials are never cached
	// (timestamp_timeout=0), so every sudo asks again.
	UserSudoPassword = "meshlab-test-pw"
	// TestPassword is the login and sudo password of both test users.
	TestPassword = "Mesh-lab throwaway pw 7!"
)

const (
	sudoersFile = "/etc/sudoers.d/meshlab-test"
	usersLock   = "/run/meshlab-sshtest-users.lock"
)

const sudoersText = `# Written by meshlab's sshtest harness for its throwaway test users.
Defaults:` + UserSudoPassword + ` timestamp_timeout=0, !lecture
` + UserSudoNoPassword + ` ALL=(ALL:ALL) NOPASSWD: ALL
` + UserSudoPassword + ` ALL=(ALL:ALL) ALL
`

// EnsureUsers creates UserSudoNoPassword and UserSudoPassword with home directories, a login
// shell, TestPassword, and their sudoers rules. It is safe to call from parallel tests and from
// several test binaries at once (a file lock serialises it). It needs root and the sudo package.
func EnsureUsers() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("creating test users needs root")
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		return fmt.Errorf("sudo is not installed (apt-get install -y sudo): %w", err)
	}
	lock, err := os.OpenFile(usersLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", usersLock, err)
	}
	defer lock.Close()
	// useradd and chpasswd lock /etc/passwd themselves but fail instead of waiting when
	// another process holds the lock; our own lock makes parallel callers queue.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", usersLock, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing unlocks anyway

	for _, name := range []string{UserSudoNoPassword, UserSudoPassword} {
		if err := ensureUser(name); err != nil {
			return err
		}
	}
	return ensureSudoers()
}

func ensureUser(name string) error {
	if _, err := user.Lookup(name); err != nil {
		if err := run(nil, "useradd", "--create-home", "--shell", "/bin/sh", name); err != nil {
			return fmt.Errorf("create test user %s: %w", name, err)
		}
	}
	// Always (re)set the password: without one the account is locked ("!" in shadow) and
	// sshd with UsePAM no refuses even key logins for locked accounts. chpasswd reads it
	// from stdin, so it never shows in argv.
	if err := run(strings.NewReader(name+":"+TestPassword+"\n"), "chpasswd"); err != nil {
		return fmt.Errorf("set password of test user %s: %w", name, err)
	}
	return nil
}

func ensureSudoers() error {
	if old, err := os.ReadFile(sudoersFile); err == nil && string(old) == sudoersText {
		return nil
	}
	tmp := sudoersFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(sudoersText), 0o440); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	// visudo -c refuses a bad file before sudo sees it: a broken sudoers.d entry would
	// break sudo for everybody on the machine.
	if err := run(nil, "visudo", "-c", "-q", "-f", tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("check %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, sudoersFile); err != nil {
		return fmt.Errorf("install %s: %w", sudoersFile, err)
	}
	return nil
}

func run(stdin *strings.Reader, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(out.String()))
	}
	return nil
}
