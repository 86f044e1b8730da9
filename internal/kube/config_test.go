package kube

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes a kubeconfig whose one context points at server.
func writeKubeconfig(t *testing.T, path, server string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: server}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["ctx"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "ctx"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// world is a process environment for load: which files exist, $KUBECONFIG, a pod or not.
type world struct {
	dir       string
	env       map[string]string
	inCluster bool
}

func newWorld(t *testing.T) *world { return &world{dir: t.TempDir(), env: map[string]string{}} }

func (w *world) file(t *testing.T, name, server string) string {
	return writeKubeconfig(t, filepath.Join(w.dir, name), server)
}

func (w *world) load(o LoadOptions) (*Config, error) {
	e := env{
		getenv: func(k string) string { return w.env[k] },
		home:   filepath.Join(w.dir, "home"),
		inCluster: func() (*rest.Config, error) {
			if !w.inCluster {
				return nil, rest.ErrNotInCluster
			}
			return &rest.Config{Host: "https://in-cluster:443"}, nil
		},
	}
	return e.load(o)
}

func TestLoadPrecedence(t *testing.T) {
	type setup struct {
		flag, env, lab, home, pod bool
	}
	cases := []struct {
		name  string
		s     setup
		host  string
		kind  SourceKind
		files []string
	}{
		{"flag beats everything", setup{true, true, true, true, true}, "https://flag:6443", FromFlag, []string{"flag"}},
		{"$KUBECONFIG beats the lab", setup{false, true, true, true, true}, "https://env-a:6443", FromEnv, []string{"env-a", "env-b"}},
		{"the lab beats ~/.kube/config", setup{false, false, true, true, true}, "https://lab:6443", FromLab, []string{"lab"}},
		{"~/.kube/config beats in-cluster", setup{false, false, false, true, true}, "https://home:6443", FromHome, []string{"home/.kube/config"}},
		{"in-cluster last", setup{false, false, false, false, true}, "https://in-cluster:443", FromInCluster, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			var o LoadOptions
			if c.s.flag {
				o.Kubeconfig = w.file(t, "flag", "https://flag:6443")
			}
			if c.s.env {
				// A missing file in the list is skipped; the first file's context wins, as in kubectl.
				w.env["KUBECONFIG"] = strings.Join([]string{filepath.Join(w.dir, "missing"),
					w.file(t, "env-a", "https://env-a:6443"), w.file(t, "env-b", "https://env-b:6443")}, string(filepath.ListSeparator))
			}
			o.Lab = filepath.Join(w.dir, "lab")
			if c.s.lab {
				w.file(t, "lab", "https://lab:6443")
			}
			if c.s.home {
				w.file(t, "home/.kube/config", "https://home:6443")
			}
			w.inCluster = c.s.pod
			cfg, err := w.load(o)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.REST.Host != c.host || cfg.Source.Kind != c.kind {
				t.Fatalf("got %s from %v, want %s from %v", cfg.REST.Host, cfg.Source, c.host, c.kind)
			}
			var want []string
			for _, f := range c.files {
				want = append(want, filepath.Join(w.dir, f))
			}
			if strings.Join(cfg.Source.Paths, ",") != strings.Join(want, ",") {
				t.Fatalf("paths %v, want %v", cfg.Source.Paths, want)
			}
		})
	}
}

func TestLoadNothingFoundSaysWhatWasTried(t *testing.T) {
	w := newWorld(t)
	w.env["KUBECONFIG"] = filepath.Join(w.dir, "gone")
	_, err := w.load(LoadOptions{Lab: filepath.Join(w.dir, "labs/x/kubeconfig")})
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v, want a NotFoundError", err)
	}
	for _, want := range []string{"no --kubeconfig", "$KUBECONFIG=" + filepath.Join(w.dir, "gone") + " names no existing file",
		"the lab's kubeconfig " + filepath.Join(w.dir, "labs/x/kubeconfig") + " does not exist",
		filepath.Join(w.dir, "home/.kube/config") + " does not exist", "not in a pod", "Pass --kubeconfig FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// A file that is there but unusable is an error, never a reason to fall through to another
// cluster; a missing --kubeconfig likewise.
func TestLoadDoesNotFallThroughBadFiles(t *testing.T) {
	w := newWorld(t)
	w.inCluster = true
	w.file(t, "home/.kube/config", "https://home:6443")
	empty := filepath.Join(w.dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(w.dir, "broken")
	if err := os.WriteFile(broken, []byte("clusters: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]LoadOptions{
		"missing flag": {Kubeconfig: filepath.Join(w.dir, "nope")},
		"empty flag":   {Kubeconfig: empty},
		"broken lab":   {Lab: broken},
	} {
		if cfg, err := w.load(o); err == nil {
			t.Errorf("%s: loaded %s from %v, want an error", name, cfg.REST.Host, cfg.Source)
		}
	}
	w.env["KUBECONFIG"] = broken
	if _, err := w.load(LoadOptions{}); err == nil || !strings.Contains(err.Error(), "from $KUBECONFIG") {
		t.Errorf("broken $KUBECONFIG: %v", err)
	}
}

func TestSourceString(t *testing.T) {
	for _, c := range []struct {
		s    Source
		want string
	}{
		{Source{Kind: FromFlag, Paths: []string{"/k"}}, "kubeconfig /k"},
		{Source{Kind: FromEnv, Paths: []string{"/a", "/b"}}, "kubeconfig /a:/b (from $KUBECONFIG)"},
		{Source{Kind: FromLab, Paths: []string{"/l"}}, "the lab's kubeconfig /l"},
		{Source{Kind: FromHome, Paths: []string{"/h"}}, "kubeconfig /h (the default)"},
		{Source{Kind: FromInCluster}, "the in-cluster service account"},
	} {
		if got := c.s.String(); got != c.want {
			t.Errorf("%v: %q, want %q", c.s.Kind, got, c.want)
		}
	}
}

// Helm gets the same cluster, with the addons' namespace as its default.
func TestGetterIsTheLoadedCluster(t *testing.T) {
	w := newWorld(t)
	cfg, err := w.load(LoadOptions{Kubeconfig: w.file(t, "k", "https://k:6443")})
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Getter("meshlab-addons")
	rc, err := g.ToRESTConfig()
	if err != nil || rc.Host != "https://k:6443" {
		t.Fatalf("rest config %v %v", rc, err)
	}
	raw := g.ToRawKubeConfigLoader()
	ns, _, err := raw.Namespace()
	if err != nil || ns != "meshlab-addons" {
		t.Fatalf("namespace %q %v", ns, err)
	}
	if rc, err := raw.ClientConfig(); err != nil || rc.Host != "https://k:6443" {
		t.Fatalf("raw loader's cluster %v %v", rc, err)
	}
}
