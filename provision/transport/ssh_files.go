package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/pkg/sftp"
)

// Put writes r to u.Path atomically: the data goes to a temporary file beside the target,
// gets its mode and owner, and is renamed over the target, so readers see the old file or
// the complete new one, never a partial one. With Become (and a login user that is not root)
// the file is staged in the user's home directory and moved into place with sudo install.
func (s *SSH) Put(ctx context.Context, r io.Reader, u Upload) error {
	if err := checkUpload(u); err != nil {
		return fmt.Errorf("%s: put: %w", s.cfg.Name, err)
	}
	viaSudo := false
	if u.Become {
		b, err := s.become.get(ctx, probeWith(s.exec))
		if err != nil {
			return fmt.Errorf("put %s: %w", u.Path, err)
		}
		viaSudo = b.method != becomeDirect
	}
	sc, err := s.sftpClient(ctx)
	if err != nil {
		return err
	}
	if !viaSudo {
		return s.putDirect(ctx, sc, r, u)
	}
	home, err := sc.Getwd()
	if err != nil {
		return s.lost("sftp getwd", err)
	}
	staged := path.Join(home, ".meshlab-upload-"+randomSuffix())
	if err := s.upload(ctx, sc, r, staged, 0o600); err != nil {
		sc.Remove(staged) //nolint:errcheck // best effort clean-up of our own temp file
		return fmt.Errorf("%s: put %s: stage %s: %w", s.cfg.Name, u.Path, staged, err)
	}
	_, err = s.Run(ctx, Cmd{Command: installScript(staged, u.Path, u.Mode, u.Owner), Become: true})
	if err != nil {
		return fmt.Errorf("put %s: move into place as root: %w", u.Path, err)
	}
	return nil
}

func (s *SSH) putDirect(ctx context.Context, sc *sftp.Client, r io.Reader, u Upload) error {
	stage := stagePath(u.Path)
	err := s.upload(ctx, sc, r, stage, fileMode(u.Mode))
	if err == nil && u.Owner != "" {
		_, err = s.Run(ctx, Cmd{Command: "chown -- " + Quote(u.Owner) + " " + Quote(stage)})
	}
	if err == nil {
		err = sc.PosixRename(stage, u.Path) // posix-rename@openssh.com replaces the target atomically
	}
	if err != nil {
		sc.Remove(stage) //nolint:errcheck // best effort clean-up of our own temp file
		return fmt.Errorf("%s: put %s: %w", s.cfg.Name, u.Path, err)
	}
	return nil
}

// upload writes a new file (it must not exist) and sets its mode before any rename.
func (s *SSH) upload(ctx context.Context, sc *sftp.Client, r io.Reader, dest string, mode os.FileMode) error {
	f, err := sc.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create %s: %w", dest, err)
	}
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", dest, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", dest, err)
	}
	// Chmod after writing: the umask applied at create time may have narrowed the mode.
	if err := sc.Chmod(dest, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", dest, err)
	}
	return nil
}

// Get reads a file, with `sudo cat` when become is set and the user is not root.
func (s *SSH) Get(ctx context.Context, p string, become bool) ([]byte, error) {
	if err := checkNUL("path", p); err != nil {
		return nil, fmt.Errorf("%s: get: %w", s.cfg.Name, err)
	}
	if become {
		b, err := s.become.get(ctx, probeWith(s.exec))
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", p, err)
		}
		if b.method != becomeDirect {
			return s.catAsRoot(ctx, b, p)
		}
	}
	sc, err := s.sftpClient(ctx)
	if err != nil {
		return nil, err
	}
	f, err := sc.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%s: get %s: %w", s.cfg.Name, p, err)
	}
	defer f.Close()
	data, err := io.ReadAll(ctxReader{ctx, f})
	if err != nil {
		return nil, fmt.Errorf("%s: get %s: %w", s.cfg.Name, p, err)
	}
	return data, nil
}

func (s *SSH) catAsRoot(ctx context.Context, b becomer, p string) ([]byte, error) {
	var out, errOut bytes.Buffer
	line, stdin := b.wrap("cat -- "+Quote(p), nil)
	status, err := s.exec(ctx, line, stdin, &out, &errOut, true)
	if err != nil {
		return nil, fmt.Errorf("%s: get %s: %w", s.cfg.Name, p, err)
	}
	if status != 0 {
		return nil, fmt.Errorf("%s: get %s: %w", s.cfg.Name, p,
			&ExitError{Command: "sudo cat -- " + Quote(p), ExitStatus: status, Stderr: Redact(errOut.String(), b.password)})
	}
	return out.Bytes(), nil
}

// sftpClient returns the SFTP client of the current connection, starting one if needed. One
// client (one session) serves every transfer; it is concurrency-safe.
func (s *SSH) sftpClient(ctx context.Context) (*sftp.Client, error) {
	client, err := s.conn(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.sftp != nil && s.client == client {
		defer s.mu.Unlock()
		return s.sftp, nil
	}
	s.mu.Unlock()
	sc, err := sftp.NewClient(client)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, s.lost("start sftp", err)
		}
		return nil, fmt.Errorf("%s: start sftp (is the sftp subsystem enabled in sshd?): %w", s.cfg.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sftp != nil && s.client == client { // another caller won the race
		sc.Close()
		return s.sftp, nil
	}
	s.sftp = sc
	return sc, nil
}
