package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// tarDir writes the regular files under dir into a tar at dst, in name order, with fixed
// owners and times so the same image gives the same archive.
func tarDir(dir, dst string) (err error) {
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	tw := tar.NewWriter(out)
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: st.Size(), Typeflag: tar.TypeReg, ModTime: epochTime}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		in, err := os.Open(f)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, in)
		in.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// ErrImageDigest marks an image archive whose content is not the image the manifest recorded.
var ErrImageDigest = errors.New("image is not the one recorded")

// verifyOCIArchive checks an image archive written by Pull: its index names exactly one image,
// ref, whose manifest digest is want, and every blob in it hashes to its name, with the
// manifest's config and layers all present.
func verifyOCIArchive(path, ref, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	blobs := map[string]bool{}
	var index []byte
	tr := tar.NewReader(f)
	var manifest []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch {
		case h.Name == "index.json":
			if index, err = io.ReadAll(io.LimitReader(tr, 1<<20)); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		case strings.HasPrefix(h.Name, "blobs/sha256/"):
			named := strings.TrimPrefix(h.Name, "blobs/sha256/")
			isManifest := "sha256:"+named == want // read it while hashing
			got, body, err := hashReader(tr, isManifest)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", path, h.Name, err)
			}
			if got != named {
				return fmt.Errorf("%s: blob %s hashes to sha256:%s: %w", path, h.Name, got, ErrImageDigest)
			}
			if isManifest {
				manifest = body
			}
			blobs["sha256:"+named] = true
		}
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(index, &idx); err != nil {
		return fmt.Errorf("%s: index.json: %w", path, err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations[containerdImageName] != ref {
		return fmt.Errorf("%s: the index does not name exactly the image %s: %w", path, ref, ErrImageDigest)
	}
	if got := idx.Manifests[0].Digest.String(); got != want {
		return fmt.Errorf("%s: %s is %s, the manifest recorded %s: %w", path, ref, got, want, ErrImageDigest)
	}
	if manifest == nil {
		return fmt.Errorf("%s: the image manifest %s is missing: %w", path, want, ErrImageDigest)
	}
	var m v1.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return fmt.Errorf("%s: manifest %s: %w", path, want, err)
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if !blobs[d.Digest.String()] {
			return fmt.Errorf("%s: blob %s of %s is missing: %w", path, d.Digest, ref, ErrImageDigest)
		}
	}
	return nil
}

// hashReader returns the hex sha256 of r's content, and the content itself when keep is set.
func hashReader(r io.Reader, keep bool) (string, []byte, error) {
	h := sha256.New()
	var buf bytes.Buffer
	w := io.Writer(h)
	if keep {
		w = io.MultiWriter(h, &buf)
	}
	if _, err := io.Copy(w, r); err != nil {
		return "", nil, err
	}
	if !keep {
		return hex.EncodeToString(h.Sum(nil)), nil, nil
	}
	return hex.EncodeToString(h.Sum(nil)), buf.Bytes(), nil
}

// epochTime is every archive entry's modification time.
var epochTime = time.Unix(0, 0).UTC()
