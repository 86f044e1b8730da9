package image

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the modification time of every layer entry, so that the same inputs always give the
// same layer digest and a cached image stays valid across rebuilds.
var epoch = time.Unix(0, 0).UTC()

// Entry is one filesystem object placed in a layer. Exactly one of Source, Data, Link or Dir
// describes the content; parent directories are created implicitly.
type Entry struct {
	Path   string      // absolute path inside the image, e.g. /usr/local/bin/etcd
	Mode   fs.FileMode // permission bits; 0 means 0755 for directories and executables' default 0644
	Source string      // host file whose bytes become a regular file
	Data   []byte      // literal bytes of a regular file (used when Source is "")
	Link   string      // symlink target
	Dir    bool        // a directory
}

// Binary is an executable copied from the host to dst in the image (mode 0755).
func Binary(dst, src string) Entry { return Entry{Path: dst, Source: src, Mode: 0o755} }

// NewLayer writes entries into an uncompressed tar at tarPath (which it creates) and returns the
// layer backed by that file. Entries are sorted and given fixed owners and times, so the digest
// depends only on paths, modes and contents.
func NewLayer(tarPath string, entries []Entry) (v1.Layer, error) {
	if err := writeLayerTar(tarPath, entries); err != nil {
		return nil, err
	}
	l, err := tarball.LayerFromFile(tarPath, tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return nil, fmt.Errorf("image: layer %s: %w", tarPath, err)
	}
	return l, nil
}

func writeLayerTar(tarPath string, entries []Entry) (err error) {
	sorted, err := withParents(entries)
	if err != nil {
		return err
	}
	f, err := os.Create(tarPath)
	if err != nil {
		return fmt.Errorf("image: create layer: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("image: close layer %s: %w", tarPath, cerr)
		}
	}()
	tw := tar.NewWriter(f)
	for _, e := range sorted {
		if err := writeEntry(tw, e); err != nil {
			return fmt.Errorf("image: layer %s: %s: %w", tarPath, e.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("image: finish layer %s: %w", tarPath, err)
	}
	return nil
}

// withParents validates paths, adds missing parent directories and sorts by path, so tar
// readers that need a directory before its children (containerd's applier does) are happy.
func withParents(entries []Entry) ([]Entry, error) {
	byPath := map[string]Entry{}
	parents := map[string]bool{}
	for _, e := range entries {
		p := path.Clean(e.Path)
		if !path.IsAbs(p) || p == "/" {
			return nil, fmt.Errorf("image: entry path %q must be absolute and not /", e.Path)
		}
		if _, dup := byPath[p]; dup {
			return nil, fmt.Errorf("image: entry %s given twice", p)
		}
		e.Path = p
		byPath[p] = e
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			parents[d] = true
		}
	}
	for d := range parents {
		if _, ok := byPath[d]; !ok {
			byPath[d] = Entry{Path: d, Dir: true}
		}
	}
	out := make([]Entry, 0, len(byPath))
	for _, e := range byPath {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func writeEntry(tw *tar.Writer, e Entry) error {
	h := &tar.Header{
		Name:    strings.TrimPrefix(e.Path, "/"),
		ModTime: epoch,
		Format:  tar.FormatPAX,
	}
	switch {
	case e.Dir:
		h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", modeOr(e.Mode, 0o755)
		return tw.WriteHeader(h)
	case e.Link != "":
		h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.Link, 0o777
		return tw.WriteHeader(h)
	case e.Source != "":
		f, err := os.Open(e.Source)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("source %s is not a regular file", e.Source)
		}
		h.Typeflag, h.Size, h.Mode = tar.TypeReg, st.Size(), modeOr(e.Mode, st.Mode().Perm())
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	default:
		h.Typeflag, h.Size, h.Mode = tar.TypeReg, int64(len(e.Data)), modeOr(e.Mode, 0o644)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(e.Data)
		return err
	}
}

func modeOr(m, def fs.FileMode) int64 {
	if m.Perm() == 0 {
		m = def
	}
	mode := int64(m.Perm())
	if m&fs.ModeSticky != 0 { // /tmp: 1777
		mode |= 0o1000
	}
	return mode
}

// DirEntries lists a host directory tree (for example .debs extracted with dpkg-deb -x) as
// entries rooted at /. skip, if not nil, gets the in-image path and drops that entry (and a
// directory's whole subtree) when it returns true.
func DirEntries(root string, skip func(imagePath string) bool) ([]Entry, error) {
	var out []Entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		ip := "/" + filepath.ToSlash(rel)
		if skip != nil && skip(ip) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			out = append(out, Entry{Path: ip, Dir: true, Mode: info.Mode().Perm()})
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, Entry{Path: ip, Link: target})
		case info.Mode().IsRegular():
			out = append(out, Entry{Path: ip, Source: p, Mode: info.Mode().Perm()})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("image: list %s: %w", root, err)
	}
	return out, nil
}
