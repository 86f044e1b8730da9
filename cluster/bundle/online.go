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

	"github.com/google/go-containerregistry/pkg/name"

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
	// Images are the upstream references of every image the lab runs
	// (versions.Set.LabImages()), pulled by Puller into images/ with their digests recorded.
	Images []string
	Puller Puller
	// Debs are the runtime packages for Debian 12 hosts (RuntimeDebs), fetched with apt-get
	// download into debs/ so the bundle installs without apt access; none: no debs/.
	Debs []Deb
	// DebCache keeps the downloaded .debs between builds ("" means a folder inside Out).
	DebCache string
}

// ErrUnpinned marks a download that has no sha256 in the pinned-versions table.
var ErrUnpinned = errors.New("no sha256 pinned for this download")

// BuildOnline downloads every pinned file, checks it against its sha256 before it is placed in
// the bundle, unpacks archives (crictl, CNI plugins), pulls the images, fetches the runtime
// .debs and writes the manifest. Every failed download or pull is reported, not only the first.
func BuildOnline(ctx context.Context, o OnlineOptions) (*Manifest, error) {
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if old, err := Read(o.Out); err == nil && old.Source != SourceOnline {
		// A bundle of another kind (built from source) shares no file with this one.
		if err := clearBundle(o.Out); err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
	}
	for _, d := range []string{DirBin, DirCNI, DirImages, DirManifests} {
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
	images, digests, err := pullImages(ctx, o)
	if err != nil {
		errs = append(errs, err)
	}
	debs, err := placeDebs(ctx, o, dl)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("bundle: online build into %s: %w", o.Out, errors.Join(errs...))
	}
	if err := os.RemoveAll(dl); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	m := &Manifest{Schema: Schema, Source: SourceOnline, Versions: o.Versions, Images: images, ImageDigests: digests, Debs: debs}
	if err := m.Index(o.Out); err != nil {
		return nil, err
	}
	return m, m.Write(o.Out)
}

// pullImages pulls every image of o.Images into Out/images. A tag is resolved to a digest once;
// a bundle built before keeps its digests (the images are pulled by digest, so a rebuild gets
// the same bits however the tags moved), and an archive already there that holds exactly that
// image is kept. Images no longer asked for are removed.
func pullImages(ctx context.Context, o OnlineOptions) (map[string]string, map[string]string, error) {
	if len(o.Images) == 0 {
		return nil, nil, nil
	}
	prev := map[string]string{}
	if old, err := Read(o.Out); err == nil {
		prev = old.ImageDigests
	}
	images, digests := map[string]string{}, map[string]string{}
	var errs []error
	for _, ref := range o.Images {
		digest := prev[ref]
		if digest == "" {
			d, err := o.Puller.Resolve(ctx, ref)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			digest = d
			o.Logger.Info("image tag resolved", "image", ref, "digest", digest)
		}
		tag, err := name.NewTag(ref, name.StrictValidation)
		if err != nil {
			errs = append(errs, fmt.Errorf("image %q: %w", ref, err))
			continue
		}
		rel := DirImages + "/" + flatName(tag) + ".tar"
		if verifyOCIArchive(filepath.Join(o.Out, filepath.FromSlash(rel)), ref, digest) == nil {
			images[ref], digests[ref] = rel, digest
			continue
		}
		img, err := o.Puller.Pull(ctx, ref, digest, o.Out)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.Logger.Info("image pulled", "image", ref, "digest", digest)
		images[ref], digests[ref] = img.File, img.Digest
	}
	if err := removeUnlisted(filepath.Join(o.Out, DirImages), images); err != nil {
		errs = append(errs, err)
	}
	return images, digests, errors.Join(errs...)
}

// removeUnlisted deletes the files of dir that no image of images lives in.
func removeUnlisted(dir string, images map[string]string) error {
	keep := map[string]bool{}
	for _, f := range images {
		keep[path.Base(f)] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// placeDebs fetches the runtime .debs (into DebCache, else a folder of dl) and copies them to
// Out/debs, returning them as name=version in install order.
func placeDebs(ctx context.Context, o OnlineOptions, dl string) ([]string, error) {
	dst := filepath.Join(o.Out, DirDebs)
	if err := os.RemoveAll(dst); err != nil { // no stale package of an earlier build stays
		return nil, err
	}
	if len(o.Debs) == 0 {
		return nil, nil
	}
	cache := cmp.Or(o.DebCache, filepath.Join(dl, "debs"))
	if err := fetchDebs(ctx, cache, o.Debs); err != nil {
		return nil, fmt.Errorf("runtime debs (Debian 12 packages, fetched with apt-get download from this machine's apt sources; "+
			"without them the bundle serves hosts that install their runtime from apt): %w", err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, d := range o.Debs {
		f, err := debFile(cache, d)
		if err != nil {
			return nil, err
		}
		if err := copyFile(filepath.Join(cache, f), filepath.Join(dst, f), 0o644); err != nil {
			return nil, err
		}
		out = append(out, d.String())
	}
	return out, nil
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
