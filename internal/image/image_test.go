package image

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// contents lists the files of an image's flattened filesystem: path → "dir", "-> target" or the
// file's bytes.
func contents(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read flattened image: %v", err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			out[h.Name] = "dir"
		case tar.TypeSymlink:
			out[h.Name] = "-> " + h.Linkname
		default:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("read %s: %v", h.Name, err)
			}
			out[h.Name] = string(b)
		}
	}
}

func TestBuildScratchImageConfig(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause-bin")
	if err := os.WriteFile(bin, []byte("#!fake pause"), 0o755); err != nil {
		t.Fatal(err)
	}
	im, err := Build(Spec{
		Ref:        "registry.k8s.io/pause:3.10.1",
		Files:      []Entry{Binary("/pause", bin), {Path: "/etc/motd", Data: []byte("hi")}},
		Entrypoint: []string{"/pause"},
	}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := im.Tag.String(); got != "registry.k8s.io/pause:3.10.1" {
		t.Errorf("tag = %s", got)
	}
	tb := filepath.Join(dir, "pause.tar")
	if err := WriteTarball(tb, im); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTarball(tb, "registry.k8s.io/pause:3.10.1")
	if err != nil {
		t.Fatal(err)
	}
	cf, err := back.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if !reflect.DeepEqual(cf.Config.Entrypoint, []string{"/pause"}) {
		t.Errorf("entrypoint = %q", cf.Config.Entrypoint)
	}
	if !reflect.DeepEqual(cf.Config.Env, []string{"PATH=" + DefaultPath}) {
		t.Errorf("env = %q", cf.Config.Env)
	}
	layers, err := back.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want 1", len(layers), err)
	}
	files := contents(t, back)
	if files["pause"] != "#!fake pause" || files["etc"] != "dir" || files["etc/motd"] != "hi" {
		t.Errorf("files = %v", files)
	}
}

func TestBuildKeepsExplicitPathAndBaseLayers(t *testing.T) {
	dir := t.TempDir()
	base, err := NewLayer(filepath.Join(dir, "base.tar"), []Entry{
		{Path: "/usr/sbin/xtables-nft-multi", Data: []byte("x"), Mode: 0o755},
		{Path: "/usr/sbin/iptables", Link: "xtables-nft-multi"},
	})
	if err != nil {
		t.Fatal(err)
	}
	im, err := Build(Spec{
		Ref:   "registry.k8s.io/kube-proxy:v1.34.2",
		Base:  []v1.Layer{base},
		Files: []Entry{Binary("/usr/local/bin/kube-proxy", writeTemp(t, dir, "kp"))},
		Env:   []string{"PATH=/usr/local/bin", "A=b"},
		Arch:  "arm64",
	}, dir)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := im.Image.ConfigFile()
	if cf.Architecture != "arm64" || !reflect.DeepEqual(cf.Config.Env, []string{"PATH=/usr/local/bin", "A=b"}) {
		t.Errorf("arch %s env %q", cf.Architecture, cf.Config.Env)
	}
	files := contents(t, im.Image)
	if files["usr/sbin/iptables"] != "-> xtables-nft-multi" || files["usr/local/bin/kube-proxy"] != "kp" {
		t.Errorf("files = %v", files)
	}
}

func TestLayerIsReproducible(t *testing.T) {
	dir := t.TempDir()
	entries := []Entry{{Path: "/b", Data: []byte("2")}, {Path: "/a/x", Data: []byte("1")}}
	l1, err := NewLayer(filepath.Join(dir, "1.tar"), entries)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := NewLayer(filepath.Join(dir, "2.tar"), []Entry{entries[1], entries[0]})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := l1.DiffID()
	d2, _ := l2.DiffID()
	if d1 != d2 {
		t.Errorf("same entries in another order gave diff IDs %s and %s", d1, d2)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct {
		spec Spec
		want string
	}{
		"relative path": {Spec{Ref: "x.io/a:1", Files: []Entry{{Path: "bin/a"}}}, "must be absolute"},
		"duplicate":     {Spec{Ref: "x.io/a:1", Files: []Entry{{Path: "/a"}, {Path: "/a/"}}}, "given twice"},
		"missing file":  {Spec{Ref: "x.io/a:1", Files: []Entry{Binary("/a", filepath.Join(dir, "nope"))}}, "nope"},
		"bad tag":       {Spec{Ref: "Not A Tag"}, "tag"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Build(c.spec, dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestDirEntriesSkipsAndKeepsLinks(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "usr/share/doc/x"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "usr/sbin"), 0o755))
	must(os.WriteFile(filepath.Join(root, "usr/share/doc/x/README"), []byte("doc"), 0o644))
	must(os.WriteFile(filepath.Join(root, "usr/sbin/tool"), []byte("t"), 0o755))
	must(os.Symlink("tool", filepath.Join(root, "usr/sbin/alias")))
	got, err := DirEntries(root, func(p string) bool { return strings.HasPrefix(p, "/usr/share/doc") })
	must(err)
	paths := map[string]Entry{}
	for _, e := range got {
		paths[e.Path] = e
	}
	if _, ok := paths["/usr/share/doc"]; ok {
		t.Error("skipped directory was listed")
	}
	if paths["/usr/sbin/alias"].Link != "tool" || paths["/usr/sbin/tool"].Mode != 0o755 {
		t.Errorf("entries = %+v", got)
	}
}

func TestFileName(t *testing.T) {
	im, err := Build(Spec{Ref: "registry.k8s.io/coredns/coredns:v1.12.1"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := FileName(im.Tag); got != "registry.k8s.io_coredns_coredns_v1.12.1" {
		t.Errorf("FileName = %s", got)
	}
}

func writeTemp(t *testing.T, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, content+".bin")
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
