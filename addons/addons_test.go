package addons

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/internal/golden"
	"github.com/meshlab/meshlab/provision/versions"
)

func defaultSettings() Settings {
	return Settings{
		Addons:    []string{Zipkin, Prometheus, Grafana},
		NodePorts: map[string]int{Zipkin: 30001, Grafana: 30002, Prometheus: 30003},
		Images:    versions.Default().Addons,
	}
}

func TestRenderGolden(t *testing.T) {
	s := defaultSettings()
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			vals, err := s.Values(name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Render(context.Background(), name, Namespace, vals)
			if err != nil {
				t.Fatal(err)
			}
			// Every document must be valid YAML with a kind: a template bug shows up here.
			for _, doc := range strings.Split(got, "\n---\n") {
				var obj map[string]any
				if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
					t.Fatalf("rendered document is not YAML: %v\n%s", err, doc)
				}
				if obj["kind"] == nil {
					t.Fatalf("rendered document has no kind:\n%s", doc)
				}
			}
			golden.Check(t, filepath.Join("testdata", name+".golden.yaml"), []byte(got))
		})
	}
}

func TestRenderPinsImagesAndNodePorts(t *testing.T) {
	s := defaultSettings()
	s.NodePorts[Grafana] = 31999
	s.PullPolicy = "Never"
	vals, err := s.Values(Grafana)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Render(context.Background(), Grafana, Namespace, vals)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`image: "` + versions.Default().Addons.Grafana + `"`, "nodePort: 31999", "imagePullPolicy: Never",
		"meshlab-mesh.json", "meshlab-control-plane.json", "url: http://prometheus:9090"} {
		if !strings.Contains(got, want) {
			t.Errorf("grafana render lacks %q", want)
		}
	}
}

func TestInvalidValuesAreRejected(t *testing.T) {
	cases := []struct {
		name, addon string
		values      map[string]any
		want        string
	}{
		{"nodePort below the range", Zipkin, map[string]any{"nodePort": 80}, "nodePort"},
		{"nodePort not a number", Grafana, map[string]any{"nodePort": "thirty"}, "nodePort"},
		{"empty tag", Prometheus, map[string]any{"image": map[string]any{"tag": ""}}, "tag"},
		{"bad scrape interval", Prometheus, map[string]any{"scrapeInterval": "often"}, "scrapeInterval"},
		{"bad retention", Prometheus, map[string]any{"retention": map[string]any{"time": "forever"}}, "retention"},
		{"bad pull policy", Zipkin, map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, "pullPolicy"},
		{"bad datasource URL", Grafana, map[string]any{"prometheusURL": "prometheus:9090"}, "prometheusURL"},
		{"bad jaeger generation", Jaeger, map[string]any{"image": map[string]any{"generation": "v3"}}, "generation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Render(context.Background(), c.addon, Namespace, c.values)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "addon "+c.addon) {
				t.Fatalf("error %q does not name the addon and the field %q", err, c.want)
			}
		})
	}
}

func TestUnknownAddon(t *testing.T) {
	if _, err := Chart("kiali"); err == nil || !strings.Contains(err.Error(), "known: grafana, jaeger, prometheus, zipkin") {
		t.Fatalf("err = %v", err)
	}
}

func TestCheckNodePorts(t *testing.T) {
	s := defaultSettings()
	if err := s.CheckNodePorts(); err != nil {
		t.Fatal(err)
	}
	s.NodePorts[Grafana] = 30001
	s.NodePorts[Prometheus] = 8080
	err := s.CheckNodePorts()
	if err == nil || !strings.Contains(err.Error(), "zipkin and grafana both want NodePort 30001") || !strings.Contains(err.Error(), "8080 is outside") {
		t.Fatalf("err = %v", err)
	}
}

// TestLint runs Helm's chart linter (the SDK's, as `helm lint --strict` would) on every chart.
func TestLint(t *testing.T) {
	for _, name := range Names() {
		dir := filepath.Join(t.TempDir(), name)
		sub, err := fs.Sub(charts, "charts/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(dir, sub); err != nil {
			t.Fatal(err)
		}
		lint := action.NewLint()
		lint.Strict = true
		lint.Namespace = Namespace
		res := lint.Run([]string{dir}, map[string]any{})
		for _, m := range res.Messages {
			if m.Severity > support.InfoSev { // "icon is recommended" and other notes are fine
				t.Errorf("%s: %s", name, m)
			}
		}
		for _, err := range res.Errors {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func memoryConfig(kube *kubefake.FailingKubeClient) *action.Configuration {
	return &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   kube,
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
}

func TestApplyInstallsThenUpgrades(t *testing.T) {
	cfg := memoryConfig(&kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}})
	in := NewInstaller(cfg, Namespace, 0)
	vals, _ := defaultSettings().Values(Zipkin)
	rel, err := in.Apply(context.Background(), Zipkin, vals)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 1 || rel.Info.Status != release.StatusDeployed {
		t.Fatalf("first apply: revision %d status %s", rel.Version, rel.Info.Status)
	}
	vals["nodePort"] = 30011
	rel, err = in.Apply(context.Background(), Zipkin, vals)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 2 || !strings.Contains(rel.Manifest, "nodePort: 30011") {
		t.Fatalf("second apply: revision %d, manifest has new port: %v", rel.Version, strings.Contains(rel.Manifest, "nodePort: 30011"))
	}
	h, err := in.History(Zipkin)
	if err != nil || len(h) != 2 {
		t.Fatalf("history: %d revisions, err %v", len(h), err)
	}
}

// failOnceKube is a fake cluster whose pods, once armed, fail to become ready one time: the
// upgrade's wait fails and the rollback's succeeds.
type failOnceKube struct {
	kubefake.FailingKubeClient
	armed bool
}

func (k *failOnceKube) Wait(resources kube.ResourceList, timeout time.Duration) error {
	if k.armed {
		k.armed = false
		return io.ErrUnexpectedEOF
	}
	return k.FailingKubeClient.Wait(resources, timeout)
}

func TestApplyRollsBackAFailedUpgrade(t *testing.T) {
	kube := &failOnceKube{FailingKubeClient: kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}}}
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   kube,
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	in := NewInstaller(cfg, Namespace, 0)
	vals, _ := defaultSettings().Values(Prometheus)
	if _, err := in.Apply(context.Background(), Prometheus, vals); err != nil {
		t.Fatal(err)
	}
	kube.armed = true // the upgraded pods never become ready
	_, err := in.Apply(context.Background(), Prometheus, vals)
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("err = %v", err)
	}
	h, _ := in.History(Prometheus)
	last := h[len(h)-1]
	if last.Version != 3 || last.Info.Status != release.StatusDeployed || !strings.Contains(last.Info.Description, "Rollback to 1") {
		t.Fatalf("after the failed upgrade the newest revision is %d %s %q; want 3, deployed, a rollback to 1",
			last.Version, last.Info.Status, last.Info.Description)
	}
}

// TestExposedSafely: Grafana lets anonymous visitors look, never edit, and takes the admin's
// password from a Secret; Prometheus' lifecycle API (/-/quit, /-/reload) is off; with the
// ClusterIP switch no addon has a NodePort.
func TestExposedSafely(t *testing.T) {
	s := defaultSettings()
	s.Addons = append(s.Addons, Jaeger)
	render := func(s Settings, name string) string {
		vals, err := s.Values(name)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Render(context.Background(), name, Namespace, vals)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	g := render(s, Grafana)
	for _, want := range []string{"{name: GF_AUTH_ANONYMOUS_ORG_ROLE, value: Viewer}", "secretKeyRef: {name: \"" + GrafanaAdminSecret + "\", key: password}",
		"{name: GF_USERS_ALLOW_SIGN_UP, value: \"false\"}"} {
		if !strings.Contains(g, want) {
			t.Errorf("grafana lacks %s", want)
		}
	}
	if strings.Contains(g, "value: Admin") || strings.Contains(g, "Editor") {
		t.Error("grafana gives anonymous visitors more than Viewer")
	}
	if p := render(s, Prometheus); strings.Contains(p, "- --web.enable-lifecycle") {
		t.Error("prometheus runs with the lifecycle API on")
	}
	s.ServiceType = ServiceClusterIP
	for _, name := range Names() {
		out := render(s, name)
		if strings.Contains(out, "nodePort:") || strings.Contains(out, "type: NodePort") {
			t.Errorf("%s with ClusterIP services still has a NodePort", name)
		}
		if !strings.Contains(out, "type: ClusterIP") {
			t.Errorf("%s: no ClusterIP service", name)
		}
	}
}
