package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is an in-process registry on loopback standing in for a mirror of several
// upstreams (each under its host name as a path prefix). corrupt, when set, flips one byte of
// every blob it serves.
type testRegistry struct {
	srv     *httptest.Server
	corrupt atomic.Bool
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.corrupt.Load() || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/blobs/sha256:") {
			h.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if len(body) > 0 {
			body[len(body)/2] ^= 0xff
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *testRegistry) host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// mirrors maps each upstream to its prefix on the test registry, in the hosts file's form.
func (r *testRegistry) mirrors(upstreams ...string) map[string]string {
	m := map[string]string{}
	for _, u := range upstreams {
		m[u] = r.srv.URL + "/v2/" + u
	}
	return m
}

// push puts a random image under upstreamRef (served at <registry>/<upstream host>/<path>) and
// returns its digest.
func (r *testRegistry) push(t *testing.T, upstreamRef string) string {
	t.Helper()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	up, err := name.NewTag(upstreamRef)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewTag(r.host()+"/"+upstreamHost(up.Context())+"/"+up.RepositoryStr()+":"+up.TagStr(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

var testImages = []string{"registry.k8s.io/pause:3.10.1", "docker.io/istio/examples-bookinfo-details-v1:1.20.3",
	"ghcr.io/flannel-io/flannel:v0.28.10"}

func buildWithImages(t *testing.T, reg *testRegistry, out string) (*Manifest, error) {
	t.Helper()
	return BuildOnline(context.Background(), OnlineOptions{Out: out, Downloads: upstream(t), Images: testImages,
		Puller: Puller{Mirrors: reg.mirrors("registry.k8s.io", "docker.io", "ghcr.io"), MirrorsOnly: true}})
}

// TestBuildOnlinePullsImagesByDigest: every image is pulled under its upstream name through the
// mirror, its digest recorded and checked by Verify; a rebuild after the tag moved upstream
// still gets the recorded image (pull by tag once, then by digest).
func TestBuildOnlinePullsImagesByDigest(t *testing.T) {
	reg := newTestRegistry(t)
	want := map[string]string{}
	for _, ref := range testImages {
		want[ref] = reg.push(t, ref)
	}
	out := t.TempDir()
	m, err := buildWithImages(t, reg, out)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range testImages {
		if m.ImageDigests[ref] != want[ref] {
			t.Errorf("%s: recorded digest %s, pushed %s", ref, m.ImageDigests[ref], want[ref])
		}
		if m.Images[ref] == "" {
			t.Errorf("%s: no image file", ref)
		}
	}
	if _, err := Verify(out); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(readTarFile(t, filepath.Join(out, m.Images[testImages[0]]), "index.json"), &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["io.containerd.image.name"] != testImages[0] {
		t.Errorf("the archive's index does not name the image for containerd: %+v", idx)
	}

	moved := reg.push(t, testImages[0]) // the tag now names another image
	m2, err := buildWithImages(t, reg, out)
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.ImageDigests[testImages[0]]; got != want[testImages[0]] || got == moved {
		t.Errorf("rebuild recorded %s; want the first pull's %s (not the moved tag's %s)", got, want[testImages[0]], moved)
	}
	fresh, err := buildWithImages(t, reg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := fresh.ImageDigests[testImages[0]]; got != moved {
		t.Errorf("a new bundle resolves the tag afresh: %s, want %s", got, moved)
	}
}

// TestBuildOnlineRefusesATamperedBlob: a mirror that serves a blob whose bytes do not hash to
// its digest fails the build, naming the image.
func TestBuildOnlineRefusesATamperedBlob(t *testing.T) {
	reg := newTestRegistry(t)
	for _, ref := range testImages {
		reg.push(t, ref)
	}
	reg.corrupt.Store(true)
	_, err := buildWithImages(t, reg, t.TempDir())
	if err == nil {
		t.Fatal("a build from a mirror serving tampered blobs succeeded")
	}
	t.Logf("refused: %v", err)
	for _, want := range []string{"registry.k8s.io/pause:3.10.1", "sha256"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}
}

// TestVerifyChecksImageDigests: an image archive changed after the build fails Verify even when
// manifest.json's file hashes were recomputed to match: the recorded digest names the content.
func TestVerifyChecksImageDigests(t *testing.T) {
	reg := newTestRegistry(t)
	for _, ref := range testImages {
		reg.push(t, ref)
	}
	out := t.TempDir()
	m, err := buildWithImages(t, reg, out)
	if err != nil {
		t.Fatal(err)
	}
	ref := testImages[1]
	archive := filepath.Join(out, m.Images[ref])
	rewriteTar(t, archive, func(name string, body []byte) []byte {
		if strings.HasPrefix(name, "blobs/sha256/") && len(body) > 1000 { // a layer
			body[len(body)-1] ^= 0xff
		}
		return body
	})
	if err := m.Index(out); err != nil { // the file hashes now match the tampered archive
		t.Fatal(err)
	}
	if err := m.Write(out); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(out)
	if !errors.Is(err, ErrImageDigest) || !strings.Contains(err.Error(), m.Images[ref]) {
		t.Fatalf("Verify = %v, want ErrImageDigest naming %s", err, m.Images[ref])
	}

	m.ImageDigests[ref] = "sha256:" + strings.Repeat("0", 64)
	other := testImages[0]
	m.ImageDigests[other] = "sha256:" + strings.Repeat("1", 64)
	if err := m.Write(out); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(out); err == nil || !strings.Contains(err.Error(), other) {
		t.Errorf("a recorded digest the archive does not hold: %v", err)
	}
}

// TestPullerMirrorsOnly: with MirrorsOnly an image of a registry without a mirror is refused
// before any connection is made.
func TestPullerMirrorsOnly(t *testing.T) {
	p := Puller{Mirrors: map[string]string{"ghcr.io": "http://127.0.0.1:1/v2/ghcr.io"}, MirrorsOnly: true}
	_, err := p.Resolve(context.Background(), "docker.io/library/busybox:1")
	if err == nil || !strings.Contains(err.Error(), "no mirror for docker.io") {
		t.Fatalf("Resolve = %v", err)
	}
	ref, _ := name.ParseReference("ghcr.io/flannel-io/flannel:v1")
	src, err := p.source(ref)
	if err != nil || src.String() != "127.0.0.1:1/ghcr.io/flannel-io/flannel" || src.Scheme() != "http" {
		t.Errorf("source = %v (%s), %v", src, src.Scheme(), err)
	}
}

func readTarFile(t *testing.T, archive, want string) []byte {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no %s: %v", archive, want, err)
		}
		if h.Name == want {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// rewriteTar passes every file of a tar through edit.
func rewriteTar(t *testing.T, archive string, edit func(name string, body []byte) []byte) {
	t.Helper()
	in, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(in))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		b = edit(h.Name, b)
		h.Size = int64(len(b))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(archive, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
