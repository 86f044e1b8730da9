package inventory

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// expandPath makes a path from the hosts file usable from any working directory: "~" becomes
// the home folder and a relative path is taken relative to the hosts file's folder (so a lab
// folder with its keys can be moved as a whole). "" stays "".
func (d *decoder) expandPath(p, field string) string {
	if p == "" {
		return ""
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			d.problem(d.at(field), field, "cannot expand ~: "+err.Error(), "write an absolute path")
			return p
		}
		return filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	if strings.HasPrefix(p, "~") {
		d.problem(d.at(field), field, fmt.Sprintf("%q: ~user paths are not supported", truncate(p, 60)), "write ~/... or an absolute path")
		return p
	}
	if filepath.IsAbs(p) || d.dir == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(d.dir, p)
}

// checkKeyFile reports a private key path that cannot be used: missing, a folder, unreadable,
// or the public half given by mistake (a frequent cause of "auth fails while ssh works").
func (d *decoder) checkKeyFile(path, field string) {
	if path == "" {
		return
	}
	at := d.at(field)
	info, err := os.Stat(path)
	switch {
	case os.IsNotExist(err):
		hint := "create it with ssh-keygen -t ed25519 -f " + path + ", or remove keyPath to use the agent"
		if _, perr := os.Stat(strings.TrimSuffix(path, ".pub")); strings.HasSuffix(path, ".pub") && perr == nil {
			hint = "use the private key " + strings.TrimSuffix(path, ".pub")
		}
		d.problem(at, field, "key file "+path+" does not exist", hint)
		return
	case err != nil:
		d.problem(at, field, "key file: "+err.Error(), "")
		return
	case info.IsDir():
		d.problem(at, field, path+" is a folder, not a key file", "name the private key file, e.g. ~/.ssh/id_ed25519")
		return
	case !info.Mode().IsRegular(): // a FIFO or device would block the read below
		d.problem(at, field, path+" is not a regular file", "name the private key file, e.g. ~/.ssh/id_ed25519")
		return
	}
	head, err := readHead(path, 64)
	if err != nil {
		d.problem(at, field, "key file cannot be read: "+err.Error(), "check its owner and mode, e.g. chmod 0600")
		return
	}
	if bytes.HasPrefix(head, []byte("ssh-")) || bytes.HasPrefix(head, []byte("ecdsa-sha2-")) || strings.HasSuffix(path, ".pub") {
		d.problem(at, field, path+" is a public key", "keyPath names the private key: "+strings.TrimSuffix(path, ".pub"))
	}
}

// checkSecretFile reports a secret file that cannot be read. The content is never looked at
// beyond its first bytes and never reported.
func (d *decoder) checkSecret(ref SecretRef, field string) {
	if ref.Env != "" && !envNameRE.MatchString(ref.Env) {
		d.problem(d.at(field+".env"), field+".env", fmt.Sprintf("%q is not an environment variable name", truncate(ref.Env, 60)),
			"use letters, digits and _, e.g. MESHLAB_SUDO_PASSWORD")
	}
	if ref.File == "" {
		return
	}
	info, err := os.Stat(ref.File)
	switch {
	case err != nil:
		d.problem(d.at(field+".file"), field+".file", "secret file: "+err.Error(), "create the file or point file: at an existing one")
	case !info.Mode().IsRegular():
		d.problem(d.at(field+".file"), field+".file", ref.File+" is not a regular file", "name the file that holds the secret")
	default:
		if _, err := readHead(ref.File, 1); err != nil {
			d.problem(d.at(field+".file"), field+".file", "secret file cannot be read: "+err.Error(), "check its owner and mode, e.g. chmod 0600")
		}
	}
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	m, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	return buf[:m], nil
}
