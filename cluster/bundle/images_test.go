package bundle

import (
	"archive/tar"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/meshlab/meshlab/internal/image"
	"github.com/meshlab/meshlab/provision/versions"
)

// addonSpecs returns the addon image specs for the default pins, with fake binaries.
func addonSpecs(t *testing.T) ([]image.Spec, string) {
	t.Helper()
	dir := t.TempDir()
	bin := func(n string) string { return filepath.Join(dir, n) }
	for _, n := range []string{"prometheus", "promtool", "jaeger-all-in-one"} {
		if err := os.WriteFile(bin(n), []byte("fake "+n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := versions.Default().Addons
	return addonImages(imageRefs{Prometheus: a.Prometheus, Jaeger: a.Jaeger}, bin), dir
}

// TestAddonImagesCarryThePinnedRefs: the stack looks an addon's pinned image up in the
// bundle's manifest, and the chart runs that same reference with pull policy Never, so the
// bundle must tag the images with exactly the pins.
func TestAddonImagesCarryThePinnedRefs(t *testing.T) {
	specs, _ := addonSpecs(t)
	a := versions.Default().Addons
	var refs []string
	for _, s := range specs {
		refs = append(refs, s.Ref)
	}
	if want := []string{a.Prometheus, a.Jaeger}; !reflect.DeepEqual(refs, want) {
		t.Errorf("addon image refs = %v, want the pins %v", refs, want)
	}
	if !strings.Contains(a.Jaeger, jaegerAllInOne) {
		t.Errorf("the Jaeger pin %s is not the all-in-one the bundle builds", a.Jaeger)
	}
}

// TestAddonImagesFitTheCharts builds both images and checks what the charts rely on: the
// entrypoint is the server (the charts pass arguments only), Prometheus's /data and /tmp are
// writable by anyone, and each image holds its binaries.
func TestAddonImagesFitTheCharts(t *testing.T) {
	specs, dir := addonSpecs(t)
	want := map[string]struct {
		entrypoint string
		files      []string
	}{
		"prom/prometheus":          {"/bin/prometheus", []string{"bin/prometheus", "bin/promtool"}},
		"jaegertracing/all-in-one": {"/bin/jaeger-all-in-one", []string{"bin/jaeger-all-in-one"}},
	}
	for _, s := range specs {
		repo := strings.TrimPrefix(s.Ref[:strings.LastIndex(s.Ref, ":")], "docker.io/")
		w, ok := want[repo]
		if !ok {
			t.Fatalf("unexpected addon image %s", s.Ref)
		}
		im, err := image.Build(s, dir)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := im.Image.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Config.Entrypoint; len(got) != 1 || got[0] != w.entrypoint {
			t.Errorf("%s: entrypoint %v, want [%s]", s.Ref, got, w.entrypoint)
		}
		modes := fileModes(t, im)
		for _, f := range w.files {
			if modes[f]&0o111 == 0 {
				t.Errorf("%s: %s missing or not executable (mode %v)", s.Ref, f, modes[f])
			}
		}
		if m := modes["tmp"]; m&fs.ModeSticky == 0 || m.Perm() != 0o777 {
			t.Errorf("%s: /tmp mode %v, want 1777", s.Ref, m)
		}
		if repo == "prom/prometheus" && modes["data"].Perm() != 0o777 {
			t.Errorf("%s: /data mode %v, want 0777", s.Ref, modes["data"])
		}
	}
}

// fileModes maps each path of an image's flattened filesystem (without the leading /) to its
// mode, with the sticky bit as fs.ModeSticky.
func fileModes(t *testing.T, im image.Image) map[string]fs.FileMode {
	t.Helper()
	rc := mutate.Extract(im.Image)
	defer rc.Close()
	out := map[string]fs.FileMode{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read flattened image: %v", err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = h.FileInfo().Mode()
	}
}
