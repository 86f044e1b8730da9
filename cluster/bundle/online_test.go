package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/provision/versions"
)

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for n, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// upstream serves a fake release site on loopback and returns pinned downloads for it.
func upstream(t *testing.T) []versions.Download {
	t.Helper()
	content := map[string][]byte{
		"/kubeadm":          []byte("kubeadm"),
		"/kubelet":          []byte("kubelet"),
		"/kubectl":          []byte("kubectl"),
		"/crictl.tar.gz":    tgz(t, map[string]string{"crictl": "crictl"}),
		"/cni.tgz":          tgz(t, map[string]string{"./bridge": "b", "./host-local": "h"}),
		"/kube-flannel.yml": []byte("kind: DaemonSet\n"),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := content[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	d := func(name, p string) versions.Download {
		return versions.Download{Name: name, URL: srv.URL + p, SHA256: sum(content[p])}
	}
	return []versions.Download{
		d("kubeadm", "/kubeadm"), d("kubelet", "/kubelet"), d("kubectl", "/kubectl"),
		d("crictl", "/crictl.tar.gz"), d("cni-plugins", "/cni.tgz"), d("flannel-manifest", "/kube-flannel.yml"),
	}
}

func TestBuildOnline(t *testing.T) {
	out := t.TempDir()
	m, err := BuildOnline(context.Background(), OnlineOptions{Out: out, Downloads: upstream(t),
		Versions: map[string]string{"kubernetes": "v1.34.2"}})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	want := "bin/crictl bin/kubeadm bin/kubectl bin/kubelet cni/bridge cni/host-local manifests/kube-flannel.yml"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("files = %s\nwant    %s", got, want)
	}
	if _, err := Verify(out); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if st, err := os.Stat(filepath.Join(out, "bin/kubelet")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("kubelet mode: %v %v", st, err)
	}
}

func TestBuildOnlineWrongChecksum(t *testing.T) {
	dls := upstream(t)
	good := dls[1].SHA256
	dls[1].SHA256 = strings.Repeat("ab", 32)
	_, err := BuildOnline(context.Background(), OnlineOptions{Out: t.TempDir(), Downloads: dls})
	var mm *MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("err = %v, want a MismatchError", err)
	}
	for _, want := range []string{"kubelet", good, strings.Repeat("ab", 32)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
}

func TestBuildOnlineRefusesUnpinnedAndReportsAll(t *testing.T) {
	dls := upstream(t)
	dls[0].SHA256 = ""
	dls[2].URL += "-gone"
	_, err := BuildOnline(context.Background(), OnlineOptions{Out: t.TempDir(), Downloads: dls})
	if !errors.Is(err, ErrUnpinned) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want both the unpinned kubeadm and the 404 of kubectl", err)
	}
	dls = upstream(t)
	dls[0].SHA256 = ""
	if _, err := BuildOnline(context.Background(), OnlineOptions{Out: t.TempDir(), Downloads: dls, AllowUnpinned: true}); err != nil {
		t.Fatalf("AllowUnpinned: %v", err)
	}
}

// TestBuildOnlineTakesWhatHasNoPublicDigest: a file upstream publishes no digest for is fetched
// without --allow-unpinned and named by Unpinned; the default table leaves only such files.
func TestBuildOnlineTakesWhatHasNoPublicDigest(t *testing.T) {
	dls := upstream(t)
	dls[0].SHA256, dls[0].NoPublicDigest = "", "upstream publishes none"
	if _, err := BuildOnline(context.Background(), OnlineOptions{Out: t.TempDir(), Downloads: dls}); err != nil {
		t.Fatalf("a download with no public digest was refused: %v", err)
	}
	if got := Unpinned(dls); len(got) != 1 || !strings.Contains(got[0], "upstream publishes none") {
		t.Errorf("Unpinned = %q", got)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		def, err := versions.Default().Downloads(arch)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range Unpinned(def) {
			if !strings.HasPrefix(u, "flannel-manifest: ") {
				t.Errorf("%s: the default downloads leave %q unpinned", arch, u)
			}
		}
	}
}
