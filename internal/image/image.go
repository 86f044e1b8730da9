// Package image builds the cluster's container images in-process with go-containerregistry:
// FROM scratch (or on a few prepared base layers), a set of files, an entrypoint, PATH and an
// explicit platform, written as `docker save`-style tarballs that
// `ctr -n k8s.io images import --all-platforms` accepts. No Docker daemon and no registry are
// involved, so the offline bundle can be built on a machine without either. It sits in internal/,
// below cluster and mesh, because both build images with it (the bundle's, and meshlab's own).
package image

import (
	"fmt"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultPath is the PATH every image gets unless its Spec sets one: static binaries live in
// /usr/local/bin, Debian-based layers put theirs in /usr/sbin and /usr/bin.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Spec describes one image. Ref is the full tag the manifests ask for, e.g.
// registry.k8s.io/pause:3.10.1.
type Spec struct {
	Ref        string
	OS         string // default linux
	Arch       string // default amd64
	Base       []v1.Layer
	Files      []Entry
	Entrypoint []string
	Cmd        []string
	Env        []string // PATH=DefaultPath is added unless one of these sets PATH
	WorkingDir string
	Labels     map[string]string
}

// Image is a built image and the tag it is saved under.
type Image struct {
	Tag   name.Tag
	Image v1.Image
}

// Build assembles the image described by s. The Files layer is written to workDir (one tar
// named after the image) because binaries such as kube-apiserver are too big to keep in memory
// twice; workDir must outlive the returned image until it is written out.
func Build(s Spec, workDir string) (Image, error) {
	tag, err := name.NewTag(s.Ref, name.StrictValidation)
	if err != nil {
		return Image{}, fmt.Errorf("image: tag %q: %w", s.Ref, err)
	}
	layers := append([]v1.Layer(nil), s.Base...)
	if len(s.Files) > 0 {
		l, err := NewLayer(filepath.Join(workDir, layerFileName(tag)), s.Files)
		if err != nil {
			return Image{}, fmt.Errorf("image %s: %w", s.Ref, err)
		}
		layers = append(layers, l)
	}
	// Docker media types: `ctr import` of a docker-save archive expects them.
	base := mutate.MediaType(empty.Image, types.DockerManifestSchema2)
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		return Image{}, fmt.Errorf("image %s: add layers: %w", s.Ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Image{}, fmt.Errorf("image %s: config: %w", s.Ref, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = orDefault(s.OS, "linux"), orDefault(s.Arch, "amd64")
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = s.Entrypoint
	cf.Config.Cmd = s.Cmd
	cf.Config.Env = withPath(s.Env)
	cf.Config.WorkingDir = s.WorkingDir
	cf.Config.Labels = s.Labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return Image{}, fmt.Errorf("image %s: set config: %w", s.Ref, err)
	}
	return Image{Tag: tag, Image: img}, nil
}

func withPath(env []string) []string {
	for _, e := range env {
		if len(e) >= 5 && e[:5] == "PATH=" {
			return env
		}
	}
	return append([]string{"PATH=" + DefaultPath}, env...)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// layerFileName turns a tag into a flat file name: registry.k8s.io/coredns/coredns:v1.12.1 →
// registry.k8s.io_coredns_coredns_v1.12.1.layer.tar.
func layerFileName(t name.Tag) string { return FileName(t) + ".layer.tar" }

// FileName is the flat base name (without extension) used for an image's files in a bundle.
func FileName(t name.Tag) string {
	out := []byte(t.Context().Name() + "_" + t.TagStr())
	for i, c := range out {
		if c == '/' || c == ':' {
			out[i] = '_'
		}
	}
	return string(out)
}
