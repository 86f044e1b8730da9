package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// DefaultFileMode is used when Upload.Mode is zero.
const DefaultFileMode fs.FileMode = 0o644

// checkUpload validates an upload before anything touches the host.
func checkUpload(u Upload) error {
	if err := checkNUL("path", u.Path); err != nil {
		return err
	}
	if !path.IsAbs(u.Path) || strings.HasSuffix(u.Path, "/") {
		return fmt.Errorf("upload path %q must be an absolute file path", u.Path)
	}
	return checkNUL("owner", u.Owner)
}

func fileMode(m fs.FileMode) fs.FileMode {
	if m.Perm() == 0 {
		return DefaultFileMode
	}
	return m.Perm()
}

// stagePath is a temporary name beside dest: same directory, so the final rename is atomic
// (rename(2) within one filesystem), hidden, and unique per upload.
func stagePath(dest string) string {
	return path.Join(path.Dir(dest), "."+path.Base(dest)+".meshlab-"+randomSuffix())
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read does not fail on Linux
	return hex.EncodeToString(b)
}

// installScript moves an uploaded file, staged where the login user could write it, into place
// as root: install(1) copies it beside the target with mode and owner, mv renames it over the
// target atomically (-T: a directory at the target is an error, never a place to move the file
// into), and the trap removes the staged copies whatever happens.
func installScript(staged, dest string, mode fs.FileMode, owner string) string {
	stage := stagePath(dest)
	args := fmt.Sprintf("-m %04o", fileMode(mode))
	if user, group, ok := strings.Cut(owner, ":"); owner != "" {
		args += " -o " + Quote(user)
		if ok && group != "" {
			args += " -g " + Quote(group)
		}
	}
	// Paths travel in variables so the trap body needs no nested quoting.
	return fmt.Sprintf(`s=%s t=%s d=%s; trap 'rm -f -- "$s" "$t"' EXIT; set -e; install %s -- "$s" "$t"; mv -f -T -- "$t" "$d"`,
		Quote(staged), Quote(stage), Quote(dest), args)
}

// ctxReader stops a copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
