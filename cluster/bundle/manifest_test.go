package bundle

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// makeBundle writes a small bundle with a manifest and returns its directory.
func makeBundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"bin/kubeadm":                "kubeadm-binary",
		"cni/bridge":                 "bridge-binary",
		"images/pause.tar":           "image",
		"manifests/kube-flannel.yml": "kind: DaemonSet\n",
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := &Manifest{Schema: Schema, Source: "source", Versions: map[string]string{"kubernetes": "v1.34.2"}}
	if err := m.Index(dir); err != nil {
		t.Fatal(err)
	}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVerifyCleanBundle(t *testing.T) {
	dir := makeBundle(t)
	m, err := Verify(dir)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(m.Files) != 4 || m.Files[0].Path != "bin/kubeadm" || m.Versions["kubernetes"] != "v1.34.2" {
		t.Errorf("manifest = %+v", m)
	}
}

func TestVerifyNamesEveryProblem(t *testing.T) {
	dir := makeBundle(t)
	if err := os.WriteFile(filepath.Join(dir, "cni/bridge"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "images/pause.tar")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/extra"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Verify(dir)
	if err == nil {
		t.Fatal("Verify passed a tampered bundle")
	}
	var mm *MismatchError
	if !errors.As(err, &mm) || mm.Path != "cni/bridge" {
		t.Errorf("want a MismatchError for cni/bridge, got %v", err)
	}
	if !errors.Is(err, ErrMissing) || !errors.Is(err, ErrUnlisted) {
		t.Errorf("want missing and unlisted files reported too, got %v", err)
	}
	for _, want := range []string{"cni/bridge", "images/pause.tar", "bin/extra", mm.Want, mm.Got} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestReadRejectsOtherSchema(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ManifestName), []byte(`{"schema": 9}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "schema 9") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Read(t.TempDir()); err == nil {
		t.Fatal("Read of a directory without manifest succeeded")
	}
}

// TestReadRefusesATamperedManifest: paths that leave the bundle, image references that are shell
// text, image files outside images/ and malformed packages are each refused by Read, all at once.
func TestReadRefusesATamperedManifest(t *testing.T) {
	dir := makeBundle(t)
	m, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	m.Files = append(m.Files, File{Path: "../../etc/cron.d/evil"}, File{Path: "/etc/passwd"}, File{Path: "bin/../../x"})
	m.Images = map[string]string{
		"registry.k8s.io/pause:3.10.1$(touch /tmp/pwned)": "images/pause.tar",
		"registry.k8s.io/etcd:3.6.5-0":                    "../images/etcd.tar",
	}
	m.Debs = []string{"containerd=1.7.29 ; reboot"}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	_, err = Read(dir)
	if err == nil {
		t.Fatal("a tampered manifest was read")
	}
	for _, want := range []string{`"../../etc/cron.d/evil"`, `"/etc/passwd"`, `"bin/../../x"`, `"registry.k8s.io/pause:3.10.1$(touch /tmp/pwned)" is not an image reference`,
		`file "../images/etcd.tar" is not a path under images/`, `package "containerd=1.7.29 ; reboot"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
	if _, verr := Verify(dir); verr == nil {
		t.Error("Verify accepted the tampered manifest")
	}
}
