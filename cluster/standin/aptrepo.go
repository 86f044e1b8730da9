package standin

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Key is an OpenPGP signing key made for one run, in a gpg home of its own.
type Key struct {
	Home        string
	Fingerprint string
	Public      []byte // armored; what the hosts file's mirrors.apt.*.key points at
}

// NewKey makes an ed25519 signing key without a passphrase. gpg's home goes in a short
// temporary folder (gpg-agent's socket path has a length limit); Close removes it.
func NewKey(ctx context.Context) (*Key, error) {
	home, err := os.MkdirTemp("", "meshlab-gpg-")
	if err != nil {
		return nil, err
	}
	k := &Key{Home: home}
	if out, err := k.gpg(ctx, "--pinentry-mode", "loopback", "--passphrase", "",
		"--quick-gen-key", "meshlab stand-in repository <standin@meshlab.invalid>", "ed25519", "sign", "never"); err != nil {
		k.Close()
		return nil, fmt.Errorf("gpg --quick-gen-key: %w: %s", err, out)
	}
	out, err := k.gpg(ctx, "--with-colons", "--list-keys")
	if err != nil {
		k.Close()
		return nil, fmt.Errorf("gpg --list-keys: %w: %s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			k.Fingerprint = f[9]
			break
		}
	}
	if k.Fingerprint == "" {
		k.Close()
		return nil, fmt.Errorf("gpg: no fingerprint in %q", out)
	}
	pub, err := k.gpg(ctx, "--armor", "--export", k.Fingerprint)
	if err != nil {
		k.Close()
		return nil, fmt.Errorf("gpg --export: %w", err)
	}
	k.Public = []byte(pub)
	return k, nil
}

func (k *Key) gpg(ctx context.Context, args ...string) (string, error) {
	return runIn(ctx, k.Home, "gpg", append([]string{"--batch", "--yes", "--homedir", k.Home}, args...)...)
}

// Close stops this home's gpg-agent and removes the home.
func (k *Key) Close() {
	_, _ = runIn(context.Background(), k.Home, "gpgconf", "--homedir", k.Home, "--kill", "gpg-agent")
	_ = os.RemoveAll(k.Home)
}

// sign writes InRelease (clear-signed) and Release.gpg (detached) beside a Release file, as
// apt expects of a signed repository.
func (k *Key) sign(ctx context.Context, release string) error {
	dir := filepath.Dir(release)
	for _, args := range [][]string{
		{"--local-user", k.Fingerprint, "--clearsign", "--output", filepath.Join(dir, "InRelease"), release},
		{"--local-user", k.Fingerprint, "--armor", "--detach-sign", "--output", filepath.Join(dir, "Release.gpg"), release},
	} {
		if out, err := k.gpg(ctx, args...); err != nil {
			return fmt.Errorf("gpg %s: %w: %s", args[2], err, out)
		}
	}
	return nil
}

// FlatRepo lays out a signed flat repository (`deb URL /`) at root/path as pkgs.k8s.io serves
// each minor (core:/stable:/v1.34/deb/): the packages under amd64/, Packages, Release, InRelease,
// Release.gpg and Release.key (the public key) at the top. It returns the folder.
func FlatRepo(ctx context.Context, root, path string, debs []string, k *Key) (string, error) {
	dir := filepath.Join(root, filepath.FromSlash(path))
	if err := copyInto(filepath.Join(dir, "amd64"), debs); err != nil {
		return "", err
	}
	if err := packagesIndex(ctx, dir, "amd64", dir); err != nil {
		return "", err
	}
	if err := release(ctx, dir, ".", nil); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "Release.key"), k.Public, 0o644); err != nil {
		return "", err
	}
	return dir, k.sign(ctx, filepath.Join(dir, "Release"))
}

// DebianRepo lays out a signed Debian archive at root/path with one suite and component main:
// pool/main/*.deb, dists/<suite>/main/binary-amd64/Packages(.gz) and the signed Release.
func DebianRepo(ctx context.Context, root, path, suite string, debs []string, k *Key) (string, error) {
	dir := filepath.Join(root, filepath.FromSlash(path))
	if err := copyInto(filepath.Join(dir, "pool", "main"), debs); err != nil {
		return "", err
	}
	dists := filepath.Join(dir, "dists", suite)
	if err := packagesIndex(ctx, dir, "pool/main", filepath.Join(dists, "main", "binary-amd64")); err != nil {
		return "", err
	}
	err := release(ctx, dists, ".", []string{"Origin=meshlab stand-in", "Label=Debian", "Suite=" + suite,
		"Codename=" + suite, "Components=main", "Architectures=amd64"})
	if err != nil {
		return "", err
	}
	return dir, k.sign(ctx, filepath.Join(dists, "Release"))
}

func copyInto(dir string, files []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if err := writeFileFrom(filepath.Join(dir, filepath.Base(f)), debFile{Source: f, Mode: 0o644}); err != nil {
			return err
		}
	}
	return nil
}

// packagesIndex runs apt-ftparchive packages on sub (relative to base, so Filename fields are
// base-relative) and writes Packages and Packages.gz into out.
func packagesIndex(ctx context.Context, base, sub, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	idx, err := runStdout(ctx, base, "apt-ftparchive", "packages", sub)
	if err != nil {
		return fmt.Errorf("apt-ftparchive packages %s: %w", sub, err)
	}
	if !strings.Contains(idx, "Package: ") {
		return fmt.Errorf("apt-ftparchive packages %s: no package indexed", sub)
	}
	if err := os.WriteFile(filepath.Join(out, "Packages"), []byte(idx), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(out, "Packages.gz"))
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(f)
	_, err = io.WriteString(gz, idx)
	if cerr := gz.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// release writes dir/Release with apt-ftparchive (fields are APT::FTPArchive::Release settings).
func release(ctx context.Context, dir, what string, fields []string) error {
	args := []string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		args = append(args, "-o", "APT::FTPArchive::Release::"+k+"="+v)
	}
	out, err := runStdout(ctx, dir, "apt-ftparchive", append(args, "release", what)...)
	if err != nil {
		return fmt.Errorf("apt-ftparchive release %s: %w", dir, err)
	}
	return os.WriteFile(filepath.Join(dir, "Release"), []byte(out), 0o644)
}

func runStdout(ctx context.Context, dir, name string, args ...string) (string, error) {
	var stdout, stderr strings.Builder
	cmd := execCommand(ctx, dir, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// Server serves a folder over HTTP on one address: the repositories' "internet".
type Server struct {
	Addr string
	srv  *http.Server
	done chan struct{}
}

// Serve starts serving root on addr (an IP address of this machine and a port, never a wildcard).
func Serve(root, addr string) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) == nil || net.ParseIP(host).IsUnspecified() {
		return nil, fmt.Errorf("standin: listen address %q must be one IP address and port", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("standin: %w", err)
	}
	s := &Server{Addr: ln.Addr().String(), done: make(chan struct{}),
		srv: &http.Server{Handler: http.FileServer(http.Dir(root)), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "standin: serve:", err)
		}
	}()
	return s, nil
}

// Close stops serving at once (open connections too): the mirror is gone.
func (s *Server) Close() {
	_ = s.srv.Close()
	<-s.done
}
