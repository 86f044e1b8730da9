// Package bundle is meshlab's offline bundle: a directory holding the pinned Kubernetes
// binaries, CNI plugins, container images, runtime .debs and manifests that `meshlab up
// --bundle DIR` installs without reaching the internet, plus manifest.json, which names every
// file with its sha256 so a copied or tampered bundle is caught before anything is installed.
//
// Layout (docs/bundle.md): manifest.json, bin/, cni/, images/*.tar, debs/, manifests/.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ManifestName is the bundle's index file, at the bundle root.
const ManifestName = "manifest.json"

// Schema is the manifest format version; Read refuses other values.
const Schema = 1

// Subdirectories of a bundle.
const (
	DirBin       = "bin"
	DirCNI       = "cni"
	DirImages    = "images"
	DirDebs      = "debs"
	DirManifests = "manifests"
)

// Where a bundle's contents came from (Manifest.Source).
const (
	SourceFromSource = "source" // built here from pinned source
	SourceOnline     = "online" // upstream's release files and images
)

// Manifest describes a bundle: what versions it carries and every file with its digest.
type Manifest struct {
	Schema int `json:"schema"`
	// Source is "source" for a bundle built from pinned source here, "online" for one fetched
	// from upstream release downloads.
	Source string `json:"source"`
	// Versions are the pins the bundle was built for (kubernetes, etcd, coredns, ...).
	Versions map[string]string `json:"versions"`
	// Images maps each image tag to its tarball, relative to the bundle root.
	Images map[string]string `json:"images,omitempty"`
	// ImageDigests maps each image pulled from a registry (an online bundle) to the digest of
	// its manifest: what the tag resolved to when first pulled, pulled by digest from then on,
	// and checked by Verify inside the image's archive.
	ImageDigests map[string]string `json:"imageDigests,omitempty"`
	// Debs lists the runtime packages as name=version, in install order.
	Debs  []string `json:"debs,omitempty"`
	Files []File   `json:"files"`
}

// File is one bundle file, its path relative to the bundle root (slash-separated).
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Mode   uint32 `json:"mode"`
}

// Index walks dir and fills m.Files with every regular file except the manifest itself,
// sorted by path.
func (m *Manifest) Index(dir string) error {
	paths, err := listFiles(dir)
	if err != nil {
		return err
	}
	m.Files = make([]File, 0, len(paths))
	for _, rel := range paths {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		info, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("bundle: index %s: %w", dir, err)
		}
		sum, err := fileSHA256(p)
		if err != nil {
			return fmt.Errorf("bundle: index %s: %w", dir, err)
		}
		m.Files = append(m.Files, File{Path: rel, Size: info.Size(), SHA256: sum, Mode: uint32(info.Mode().Perm())})
	}
	return nil
}

// listFiles returns the slash-separated relative paths of dir's regular files, sorted, without
// the manifest. Anything else that is not a directory (a symlink, a device) is an error: a
// bundle is copied between machines and must not point outside itself.
func listFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == ManifestName {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", rel)
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bundle: list %s: %w", dir, err)
	}
	sort.Strings(out)
	return out, nil
}

// Write stores m as dir/manifest.json.
func (m *Manifest) Write(dir string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("bundle: encode manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bundle: write manifest: %w", err)
	}
	return nil
}

// Read loads dir/manifest.json.
func Read(dir string) (*Manifest, error) {
	p := filepath.Join(dir, ManifestName)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("bundle: %s: %w", p, err)
	}
	if m.Schema != Schema {
		return nil, fmt.Errorf("bundle: %s: schema %d, this meshlab reads schema %d", p, m.Schema, Schema)
	}
	if err := m.Check(); err != nil {
		return nil, fmt.Errorf("bundle: %s: %w", p, err)
	}
	return &m, nil
}

// debRE is one runtime package as the manifest lists it: a Debian package name, "=", a version.
var debRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+=(\d+:)?\d[A-Za-z0-9.+~-]*$`)

// Check refuses a manifest whose values would reach a host's filesystem or shell as anything
// but plain names: file paths must be clean relative paths inside the bundle (fs.ValidPath: no
// "..", no leading "/"), image references must parse as references, package entries must be
// name=version. A manifest is data from wherever the bundle came from; it is checked before
// any of it is used.
func (m *Manifest) Check() error {
	var errs []error
	files := map[string]bool{}
	for _, f := range m.Files {
		if !fs.ValidPath(f.Path) || f.Path == "." || f.Path == ManifestName {
			errs = append(errs, fmt.Errorf("file path %q is not a path inside the bundle", f.Path))
		}
		files[f.Path] = true
	}
	for ref, file := range m.Images {
		if _, err := name.ParseReference(ref); err != nil || strings.ContainsAny(ref, " \t\n'\"\\$`;&|<>(){}") {
			errs = append(errs, fmt.Errorf("image %q is not an image reference", ref))
		}
		if !fs.ValidPath(file) || !strings.HasPrefix(file, DirImages+"/") {
			errs = append(errs, fmt.Errorf("image %s: file %q is not a path under %s/", ref, file, DirImages))
		} else if !files[file] {
			errs = append(errs, fmt.Errorf("image %s: file %s is not in the manifest's files", ref, file))
		}
	}
	for _, d := range m.Debs {
		if !debRE.MatchString(d) {
			errs = append(errs, fmt.Errorf("package %q is not name=version", d))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// MismatchError reports a bundle file whose content is not what the manifest recorded.
type MismatchError struct {
	Path       string // relative to the bundle root
	Want, Got  string // sha256 hex digests
	WantSize   int64
	GotSize    int64
	ExpectedBy string // where the expected sum came from: "manifest.json" or a download pin
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: sha256 %s (size %d) does not match %s's %s (size %d)",
		e.Path, e.Got, e.GotSize, e.ExpectedBy, e.Want, e.WantSize)
}

// ErrMissing marks a file named in the manifest that is not in the bundle.
var ErrMissing = errors.New("listed in manifest.json but missing")

// ErrUnlisted marks a file in the bundle that the manifest does not name.
var ErrUnlisted = errors.New("not listed in manifest.json")

// Verify checks every file of the bundle at dir against its manifest and returns all problems
// joined (each a *MismatchError, or wrapping ErrMissing / ErrUnlisted), or nil.
func Verify(dir string) (*Manifest, error) {
	m, err := Read(dir)
	if err != nil {
		return nil, err
	}
	var errs []error
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.Path] = true
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		info, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("%s: %w", f.Path, ErrMissing))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Path, err))
			continue
		}
		sum, err := fileSHA256(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if sum != f.SHA256 {
			errs = append(errs, &MismatchError{Path: f.Path, Want: f.SHA256, Got: sum,
				WantSize: f.Size, GotSize: info.Size(), ExpectedBy: ManifestName})
		}
	}
	for _, ref := range sortedKeys(m.ImageDigests) {
		file, ok := m.Images[ref]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: has a digest but no image file in manifest.json: %w", ref, ErrImageDigest))
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(file))
		if _, err := os.Stat(p); err != nil {
			continue // reported above as missing
		}
		if err := verifyOCIArchive(p, ref, m.ImageDigests[ref]); err != nil {
			errs = append(errs, err)
		}
	}
	present, err := listFiles(dir)
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range present {
		if !listed[p] {
			errs = append(errs, fmt.Errorf("%s: %w", p, ErrUnlisted))
		}
	}
	if len(errs) > 0 {
		return m, fmt.Errorf("bundle %s failed verification: %w", dir, errors.Join(errs...))
	}
	return m, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
