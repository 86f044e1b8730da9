package bundle

import (
	"archive/tar"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"

	"github.com/meshlab/meshlab/provision/versions"
)

// OnlineOptions configure a bundle fetched from upstream release downloads (the operator's
// machine with internet access).
type OnlineOptions struct {
	Out       string              // bundle directory to create or complete
	Downloads []versions.Download // usually versions.Default().Downloads("amd64")
	Versions  map[string]string   // recorded in the manifest
	Client    *http.Client        // nil means http.DefaultClient
	// AllowUnpinned accepts a download whose pin has no sha256, recording the digest it got.
	// Off by default: an unverified binary must not reach a host silently.
	AllowUnpinned bool
	Logger        *slog.Logger
}

// ErrUnpinned marks a download that has no sha256 in the pinned-versions table.
var ErrUnpinned = errors.New("no sha256 pinned for this download")

// BuildOnline downloads every pinned file, checks it against its sha256 before it is placed in
// the bundle, unpacks archives (crictl, CNI plugins) and writes the manifest. Every failed
// download is reported, not only the first.
func BuildOnline(ctx context.Context, o OnlineOptions) (*Manifest, error) {
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{DirBin, DirCNI, DirManifests} {
		if err := os.MkdirAll(filepath.Join(o.Out, d), 0o755); err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
	}
	dl := filepath.Join(o.Out, ".download")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	defer os.RemoveAll(dl)
	var errs []error
	for _, d := range o.Downloads {
		if err := fetchInto(ctx, o, d, dl); err != nil {
			errs = append(errs, fmt.Errorf("download %s (%s): %w", d.Name, d.URL, err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("bundle: online build into %s: %w", o.Out, errors.Join(errs...))
	}
	if err := os.RemoveAll(dl); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	m := &Manifest{Schema: Schema, Source: SourceOnline, Versions: o.Versions}
	if err := m.Index(o.Out); err != nil {
		return nil, err
	}
	return m, m.Write(o.Out)
}

// Unpinned lists the downloads that have no sha256 to check against, each with the reason: the
// one upstream gives when it publishes no digest, or "not in the pinned-versions table".
func Unpinned(dls []versions.Download) []string {
	var out []string
	for _, d := range dls {
		if d.SHA256 == "" {
			out = append(out, d.Name+": "+cmp.Or(d.NoPublicDigest, "no sha256 in the pinned-versions table"))
		}
	}
	return out
}

func fetchInto(ctx context.Context, o OnlineOptions, d versions.Download, tmpDir string) error {
	// A file upstream publishes no digest for cannot be pinned; it is fetched, and the digest
	// received is recorded in the manifest (which `bundle verify` checks from then on). Any other
	// unpinned file is a table that fell behind a version change: refused unless allowed.
	if d.SHA256 == "" && d.NoPublicDigest == "" && !o.AllowUnpinned {
		return ErrUnpinned
	}
	tmp := filepath.Join(tmpDir, d.Name)
	sum, err := download(ctx, o.Client, d.URL, tmp)
	if err != nil {
		return err
	}
	if d.SHA256 == "" {
		o.Logger.Warn("download has no pinned sha256; recorded the one received", "name", d.Name, "sha256", sum,
			"why", cmp.Or(d.NoPublicDigest, "allowed by --allow-unpinned"))
	} else if sum != d.SHA256 {
		st, _ := os.Stat(tmp)
		return &MismatchError{Path: d.Name, Want: d.SHA256, Got: sum, GotSize: st.Size(), WantSize: -1,
			ExpectedBy: "the pinned-versions table"}
	}
	switch d.Name {
	case "kubeadm", "kubelet", "kubectl":
		return install(tmp, filepath.Join(o.Out, DirBin, d.Name), 0o755)
	case "crictl":
		return untarGz(tmp, filepath.Join(o.Out, DirBin), func(n string) bool { return path.Base(n) == "crictl" })
	case "cni-plugins":
		return untarGz(tmp, filepath.Join(o.Out, DirCNI), func(string) bool { return true })
	case "flannel-manifest":
		return install(tmp, filepath.Join(o.Out, DirManifests, "kube-flannel.yml"), 0o644)
	default:
		return fmt.Errorf("no place in the bundle layout for download %q", d.Name)
	}
}

// download streams url to dst while hashing it, and returns the hex sha256.
func download(ctx context.Context, c *http.Client, url, dst string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %s", resp.Status)
	}
	f, err := os.Create(dst)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func install(src, dst string, mode os.FileMode) error {
	if err := os.Chmod(src, mode); err != nil {
		return err
	}
	return os.Rename(src, dst)
}

// untarGz extracts the regular files of a .tar.gz whose names keep returns true into dir,
// flattened to their base names (release archives put binaries at the top or under ./).
func untarGz(archive, dir string, keep func(name string) bool) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", archive, err)
	}
	tr := tar.NewReader(gz)
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", archive, err)
		}
		if h.Typeflag != tar.TypeReg || !keep(h.Name) {
			continue
		}
		out, err := os.OpenFile(filepath.Join(dir, path.Base(h.Name)), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: extract %s: %w", archive, h.Name, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s: no wanted files in archive", archive)
	}
	return nil
}
