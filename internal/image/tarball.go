package image

import (
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// WriteTarball saves images as one `docker save`-style archive at path: a manifest.json naming
// each image's RepoTags, its config and its layers. containerd imports it with
// `ctr -n k8s.io images import --all-platforms path` (the flag is needed because the archive
// carries no platform index). The file appears only when complete: it is written beside path
// and renamed, so an interrupted build never leaves a truncated image that looks cached.
func WriteTarball(path string, imgs ...Image) error {
	if len(imgs) == 0 {
		return fmt.Errorf("image: write %s: no images", path)
	}
	refs := make(map[name.Reference]v1.Image, len(imgs))
	for _, im := range imgs {
		refs[im.Tag] = im.Image
	}
	tmp := path + ".partial"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("image: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("image: write %s: %w", path, err)
	}
	return nil
}

// ReadTarball loads the image tagged ref from a tarball written by WriteTarball (or by
// `docker save`). Tests and the bundle verifier use it to look inside a built image.
func ReadTarball(path, ref string) (v1.Image, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("image: tag %q: %w", ref, err)
	}
	img, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		return nil, fmt.Errorf("image: read %s from %s: %w", ref, path, err)
	}
	return img, nil
}
