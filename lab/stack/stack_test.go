package stack

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/addons"
	"github.com/meshlab/meshlab/bookinfo/verify"
	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/mesh/install"
	"github.com/meshlab/meshlab/mesh/xds"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/state"
	"github.com/meshlab/meshlab/provision/versions"
)

// newTestPlan builds the phases over a fake cluster; the image tarball already exists, so
// the image phase has nothing to build.
func newTestPlan(t *testing.T, lab func(o *Options)) (engine.Phases, *plan, *fakeCluster) {
	t.Helper()
	fc := newFakeCluster(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "meshlab")
	for _, f := range []string{bin, filepath.Join(dir, proxyBinaryName)} { // as `make build` leaves them
		if err := os.WriteFile(f, []byte("not really "+filepath.Base(f)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{Lab: testLab(), Dir: state.LabDir(dir), Version: "v9", Executable: bin,
		Connect: func(string) (*Clients, error) { return fc.clients, nil }}
	if lab != nil {
		lab(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ps := engine.Phases{s.Image(), s.SideLoad(), s.Mesh(), s.Addons(), s.Bookinfo(), s.Verify(), s.Summary()}
	p := ps[0].(*Image).plan
	_, tar, err := p.imageTarball()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tar, []byte("image"), 0o600); err != nil {
		t.Fatal(err)
	}
	return ps, p, fc
}

func TestGuardsFollowTheHostsFile(t *testing.T) {
	ps, p, _ := newTestPlan(t, nil)
	p.Lab.Components.Mesh, p.Lab.Components.Bookinfo, p.Lab.Components.Addons = false, false, nil
	for _, ph := range ps {
		if g, ok := ph.(engine.Guard); ok && g.ShouldRun(nil) {
			t.Errorf("phase %s runs although the hosts file chose nothing", engine.PhaseName(ph))
		}
	}
	// Offline Bookinfo alone still needs the image: its services run from it.
	p.Lab.Components.Bookinfo, p.BundleDir = true, "x"
	if !(&Image{plan: p}).ShouldRun(nil) {
		t.Error("offline Bookinfo without the mesh must still build the meshlab image")
	}
}

func TestNeedsALab(t *testing.T) {
	if _, err := New(Options{Dir: "x"}); err == nil {
		t.Fatal("no error without a lab")
	}
	if _, err := New(Options{Lab: testLab(), Dir: state.LabDir(t.TempDir()), BundleDir: t.TempDir()}); err == nil {
		t.Fatal("no error for a bundle folder without manifest.json")
	}
}

func TestSideLoadEveryNodeThenSkip(t *testing.T) {
	ps, p, _ := newTestPlan(t, nil)
	cp, w1 := &fakeNode{name: "cp"}, &fakeNode{name: "w1"}
	rec := &recorder{}
	if err := engine.Execute(context.Background(), testRun(rec, cp, w1), ps[:2]); err != nil {
		t.Fatal(err)
	}
	_, tar, _ := p.imageTarball()
	for _, n := range []*fakeNode{cp, w1} {
		if len(n.puts) != 1 || !n.loaded {
			t.Fatalf("%s: uploads %v, imported %v", n.name, n.puts, n.loaded)
		}
		last := n.cmds[len(n.cmds)-1]
		if !strings.Contains(last, install.ImageMarker) || !strings.Contains(last, filepath.Base(tar)) {
			t.Fatalf("%s: last command %q does not record the marker", n.name, last)
		}
	}
	if got := rec.tasks("mesh-image"); len(got) != 1 || !strings.HasPrefix(got[0], "task.skip") {
		t.Fatalf("image phase with the tarball present: %v", got)
	}
	rec2 := &recorder{}
	if err := engine.Execute(context.Background(), testRun(rec2, cp, w1), ps[:2]); err != nil {
		t.Fatal(err)
	}
	for _, l := range rec2.tasks("mesh-image-load") {
		if !strings.HasPrefix(l, "task.skip") {
			t.Fatalf("second run: %s", l)
		}
	}
	if len(cp.puts) != 1 {
		t.Fatalf("second run uploaded again: %v", cp.puts)
	}
}

func TestMeshAddonsBookinfoThenRerunSkips(t *testing.T) {
	ps, _, fc := newTestPlan(t, nil)
	sel := engine.Phases{ps[2], ps[3], ps[4]}
	rec := &recorder{}
	if err := engine.Execute(context.Background(), testRun(rec), sel); err != nil {
		t.Fatalf("%v\n%v", err, rec.tasks("mesh"))
	}
	applied := strings.Join(fc.appliedList(), " ")
	for _, want := range []string{"deployments/meshlab-system/meshlab-pilot", "mutatingwebhookconfigurations//",
		"deployments/meshlab-system/meshlab-ingressgateway", "services/meshlab-system/meshlab-ingressgateway",
		"namespaces//bookinfo", "deployments/bookinfo/productpage-v1", "virtualservices/bookinfo/bookinfo"} {
		if !strings.Contains(applied, want) {
			t.Errorf("nothing applied as %s", want)
		}
	}
	in := addons.NewInstaller(fc.clients.Helm, addons.Namespace, 0)
	for _, name := range inventoryAddons() {
		if h, err := in.History(name); err != nil || len(h) != 1 {
			t.Errorf("addon %s: %d releases, %v", name, len(h), err)
		}
	}
	n := len(fc.appliedList())
	rec2 := &recorder{}
	if err := engine.Execute(context.Background(), testRun(rec2), sel); err != nil {
		t.Fatal(err)
	}
	for _, ph := range []string{"mesh", "addons", "bookinfo"} {
		for _, l := range rec2.tasks(ph) {
			if !strings.HasPrefix(l, "task.skip") {
				t.Errorf("re-run of %s did work: %s", ph, l)
			}
		}
	}
	if got := len(fc.appliedList()); got != n {
		t.Errorf("re-run applied %d more objects", got-n)
	}
	for _, name := range inventoryAddons() {
		if h, _ := in.History(name); len(h) != 1 {
			t.Errorf("re-run upgraded %s: %d releases", name, len(h))
		}
	}
}

func inventoryAddons() []string { return testLab().Components.Addons }

// writeBundle writes a bundle manifest carrying only the given images.
func writeBundle(t *testing.T, images ...string) string {
	t.Helper()
	dir := t.TempDir()
	m := &bundle.Manifest{Schema: bundle.Schema, Source: "source", Images: map[string]string{}, Files: []bundle.File{{Path: "images/x.tar"}}}
	for _, img := range images {
		m.Images[img] = "images/x.tar"
	}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestOfflineAddonNotInBundleIsSkipped(t *testing.T) {
	lab := testLab()
	dir := writeBundle(t, lab.Versions.Addons.Prometheus)
	ps, _, fc := newTestPlan(t, func(o *Options) { o.BundleDir = dir })
	rec := &recorder{}
	if err := engine.Execute(context.Background(), testRun(rec), engine.Phases{ps[3]}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rec.tasks("addons"), "\n")
	for _, name := range []string{"zipkin", "grafana"} {
		if !strings.Contains(got, "task.skip Install "+name+": "+NotInBundle) {
			t.Errorf("%s not skipped as not in the bundle:\n%s", name, got)
		}
	}
	in := addons.NewInstaller(fc.clients.Helm, addons.Namespace, 0)
	h, err := in.History("prometheus")
	if err != nil || len(h) != 1 {
		t.Fatalf("prometheus: %v %v", h, err)
	}
	if !strings.Contains(h[0].Manifest, "imagePullPolicy: Never") {
		t.Error("offline prometheus does not use pull policy Never")
	}
	if _, err := in.History("grafana"); err == nil {
		t.Error("grafana was installed although its image is not in the bundle")
	}
}

// TestOfflineJaegerStandsInForZipkin: offline, with Jaeger's image in the bundle and Zipkin's
// not, the lab still gets a tracing backend on Zipkin's Service and NodePort.
func TestOfflineJaegerStandsInForZipkin(t *testing.T) {
	lab := testLab()
	dir := writeBundle(t, lab.Versions.Addons.Prometheus, lab.Versions.Addons.Jaeger)
	ps, p, fc := newTestPlan(t, func(o *Options) { o.BundleDir = dir })
	rec := &recorder{}
	if err := engine.Execute(context.Background(), testRun(rec), engine.Phases{ps[3]}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rec.tasks("addons"), "\n")
	if !strings.Contains(got, "task.skip Install zipkin: "+NotInBundle) || !strings.Contains(got, "jaeger is installed in its place") {
		t.Errorf("zipkin's replacement not reported:\n%s", got)
	}
	in := addons.NewInstaller(fc.clients.Helm, addons.Namespace, 0)
	h, err := in.History("jaeger")
	if err != nil || len(h) != 1 {
		t.Fatalf("jaeger was not installed in zipkin's place: %v %v\n%s", h, err, got)
	}
	if !strings.Contains(h[0].Manifest, "nodePort: 30001") || !strings.Contains(h[0].Manifest, "name: zipkin") {
		t.Errorf("jaeger does not serve on zipkin's Service and NodePort:\n%s", h[0].Manifest)
	}
	var links []string
	for _, l := range (&Summary{plan: p}).Links() {
		links = append(links, l.What+" "+l.Where)
	}
	if !slices.Contains(links, "tracing (jaeger API; UI needs the online bundle) http://10.9.0.2:30001/api/services") {
		t.Errorf("summary: %q", links)
	}

	// Online, or with Zipkin in the bundle, Zipkin stays.
	ps, _, fc = newTestPlan(t, func(o *Options) {
		o.BundleDir = writeBundle(t, lab.Versions.Addons.Zipkin, lab.Versions.Addons.Jaeger)
	})
	if err := engine.Execute(context.Background(), testRun(&recorder{}), engine.Phases{ps[3]}); err != nil {
		t.Fatal(err)
	}
	if _, err := addons.NewInstaller(fc.clients.Helm, addons.Namespace, 0).History("zipkin"); err != nil {
		t.Errorf("zipkin in the bundle was not installed: %v", err)
	}
}

func TestOfflineBookinfoRunsTheMeshlabImage(t *testing.T) {
	dir := writeBundle(t)
	ps, p, fc := newTestPlan(t, func(o *Options) { o.BundleDir = dir })
	if err := engine.Execute(context.Background(), testRun(&recorder{}), engine.Phases{ps[4]}); err != nil {
		t.Fatal(err)
	}
	d, err := fc.kube.AppsV1().Deployments("bookinfo").Get(context.Background(), "reviews-v2", metav1GetOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, _, _ = p.imageTarball()
	want := "meshlab.local/meshlab:v9-" + p.digest
	if img := d.Spec.Template.Spec.Containers[0].Image; img != want || p.digest == "" {
		t.Fatalf("offline reviews-v2 runs %s, want %s (the version and this binary's digest)", img, want)
	}
}

func TestDryRunPlansWithoutTouchingTheCluster(t *testing.T) {
	ps, p, _ := newTestPlan(t, nil)
	p.Connect = func(string) (*Clients, error) { return nil, errors.New("a dry run must not connect") }
	p.clients = nil
	rec := &recorder{}
	r := testRun(rec, &fakeNode{name: "cp"})
	r.DryRun = true
	if err := engine.Execute(context.Background(), r, ps); err != nil {
		t.Fatal(err)
	}
	var plans []string
	for _, e := range rec.events {
		if e.Kind == "task.plan" {
			plans = append(plans, e.Phase+": "+e.Line)
		}
	}
	all := strings.Join(plans, "\n")
	for _, want := range []string{"mesh-image-load: would upload", "mesh: would apply the CRDs", "would deploy meshlab-ingressgateway on NodePort 30080",
		"addons: would install or upgrade the zipkin chart", "bookinfo: would deploy Bookinfo", "verify: would run"} {
		if !strings.Contains(all, want) {
			t.Errorf("dry run lacks %q:\n%s", want, all)
		}
	}
}

func TestSummaryListsURLsAndKubeconfig(t *testing.T) {
	dir := writeBundle(t, testLab().Versions.Addons.Prometheus)
	ps, p, _ := newTestPlan(t, func(o *Options) { o.BundleDir = dir })
	rec := &recorder{}
	if err := engine.Execute(context.Background(), testRun(rec), engine.Phases{ps[6]}); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range rec.events {
		if e.Kind == "log" && e.Phase == "summary" {
			lines = append(lines, e.Line)
		}
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{"http://10.9.0.2:30080/productpage", "prometheus           http://10.9.0.2:30003",
		"grafana              — " + NotInBundle, "tracing (zipkin)     — " + NotInBundle, p.Dir.Kubeconfig(),
		// Without Grafana, each dashboard opens as graphs in Prometheus's UI.
		"dashboard: meshlab Mesh Overview http://10.9.0.2:30003/query?g0.expr="} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
}

// TestSummaryDashboardsInGrafana: online, Grafana runs, and the dashboards link to it.
func TestSummaryDashboardsInGrafana(t *testing.T) {
	_, p, _ := newTestPlan(t, nil)
	var got []string
	for _, l := range (&Summary{plan: p}).Links() {
		got = append(got, l.What+" "+l.Where)
	}
	if want := "dashboard: meshlab Mesh Overview http://10.9.0.2:30002/d/meshlab-mesh"; !slices.Contains(got, want) {
		t.Errorf("summary lacks %q:\n%s", want, strings.Join(got, "\n"))
	}
}

// bookinfoPage answers like productpage through the gateway.
func bookinfoPage(status int) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(verify.TitleMarker + " Book Details Book Reviews"))
	}))
}

func TestVerifyRunsTheQuickChecks(t *testing.T) {
	for _, tc := range []struct {
		status int
		fail   bool
	}{{http.StatusOK, false}, {http.StatusInternalServerError, true}} {
		srv := bookinfoPage(tc.status)
		ps, p, _ := newTestPlan(t, nil)
		p.noRetry = true
		p.Verify = VerifyQuick
		var asked verify.ClusterOptions
		p.VerifyLab = func(o verify.ClusterOptions) (verify.Lab, error) {
			asked = o
			return verify.Lab{Namespace: o.Namespace, Browser: verify.Browser{BaseURL: srv.URL}}, nil
		}
		rec := &recorder{}
		err := engine.Execute(context.Background(), testRun(rec), engine.Phases{ps[5]})
		srv.Close()
		if asked.Node != "10.9.0.2" || asked.Ports.Gateway != 30080 || asked.Ports.Tracing != 30001 {
			t.Errorf("verify asked for %+v", asked)
		}
		if (err != nil) != tc.fail {
			t.Fatalf("page %d: err = %v\n%s", tc.status, err, strings.Join(rec.tasks("verify"), "\n"))
		}
		if tc.fail && len(engine.TaskErrors(err)) == 0 {
			t.Errorf("failure is not a task error: %v", err)
		}
		if !tc.fail && !slices.ContainsFunc(rec.tasks("verify"), func(l string) bool { return strings.HasPrefix(l, "task.done bookinfo/productpage") }) {
			t.Errorf("productpage not reported passed: %v", rec.tasks("verify"))
		}
		// Each check is a task from its start (the view shows a long scenario running).
		if !slices.ContainsFunc(rec.tasks("verify"), func(l string) bool { return strings.HasPrefix(l, "task.start bookinfo/productpage") }) {
			t.Errorf("productpage's check was not reported as started: %v", rec.tasks("verify"))
		}
	}
}

// TestVerifyModes: the full checklist by default (no check is left out as "not a smoke check"),
// the smoke checks with quick, no phase with off.
func TestVerifyModes(t *testing.T) {
	srv := bookinfoPage(http.StatusOK)
	defer srv.Close()
	for _, mode := range []VerifyMode{"", VerifyQuick} {
		ps, p, _ := newTestPlan(t, nil)
		p.noRetry, p.Verify = true, mode
		p.VerifyLab = func(o verify.ClusterOptions) (verify.Lab, error) {
			return verify.Lab{Namespace: o.Namespace, Browser: verify.Browser{BaseURL: srv.URL}}, nil
		}
		rec := &recorder{}
		_ = engine.Execute(context.Background(), testRun(rec), engine.Phases{ps[5]})
		smokeOnly := slices.ContainsFunc(rec.tasks("verify"), func(l string) bool { return strings.Contains(l, "not a smoke check") })
		if smokeOnly != (mode == VerifyQuick) {
			t.Errorf("mode %q: smoke checks only = %v\n%s", mode, smokeOnly, strings.Join(rec.tasks("verify"), "\n"))
		}
	}
	ps, p, _ := newTestPlan(t, nil)
	p.Verify = VerifyOff
	if ps[5].(*Verify).ShouldRun(nil) {
		t.Error("verify off still runs the phase")
	}
	for in, want := range map[string]VerifyMode{"": VerifyFull, "full": VerifyFull, "quick": VerifyQuick, "off": VerifyOff} {
		if got, err := ParseVerifyMode(in); err != nil || got != want {
			t.Errorf("ParseVerifyMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseVerifyMode("fast"); err == nil || !strings.Contains(err.Error(), "full, quick or off") {
		t.Errorf("ParseVerifyMode(fast): %v", err)
	}
}

// TestImageNeedsTheSidecarBinary: without meshlab-proxy beside meshlab (or on PATH) the image
// phase fails saying how to build it, and a changed sidecar binary is a new image.
func TestImageNeedsTheSidecarBinary(t *testing.T) {
	ps, p, _ := newTestPlan(t, nil)
	before := p.image()
	proxy := filepath.Join(filepath.Dir(p.binary), proxyBinaryName)
	if err := os.WriteFile(proxy, []byte("another build"), 0o755); err != nil {
		t.Fatal(err)
	}
	p.tar = "" // a new run
	if after := p.image(); after == before {
		t.Errorf("a changed sidecar binary kept the image ref %s", after)
	}
	if err := os.Remove(proxy); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	p.tar = ""
	err := engine.Execute(context.Background(), testRun(&recorder{}), engine.Phases{ps[0]})
	if err == nil || !strings.Contains(err.Error(), "make build") || !strings.Contains(err.Error(), proxyBinaryName) {
		t.Fatalf("no sidecar binary: %v", err)
	}
	// A plan says what is missing instead of failing (`meshlab plan` works from a bare checkout).
	rec := &recorder{}
	r := testRun(rec, &fakeNode{name: "cp"})
	r.DryRun = true
	if err := engine.Execute(context.Background(), r, engine.Phases{ps[0], ps[1]}); err != nil {
		t.Fatalf("plan without the sidecar binary: %v", err)
	}
	planned := ""
	for _, e := range rec.events {
		planned += e.Line + "\n"
	}
	if !strings.Contains(planned, "would build the meshlab image, but first") || !strings.Contains(planned, "make build") {
		t.Errorf("plan lines:\n%s", planned)
	}
}

// TestSidecarsReportToTheTracingAddon: the collector a sidecar on Kubernetes defaults to is the
// zipkin Service the addons install (Zipkin's chart or Jaeger's, in addons.Namespace).
func TestSidecarsReportToTheTracingAddon(t *testing.T) {
	want := "http://zipkin." + addons.Namespace + ":9411/api/v2/spans"
	if xds.KubeZipkinURL != want {
		t.Fatalf("sidecars report to %s; the addons serve %s", xds.KubeZipkinURL, want)
	}
}

// TestVerifyIsToldWhatIsAbsent: verify hears "not in the offline bundle" only for an addon whose
// image the bundle's manifest lacks, "skipped" for one the hosts file leaves out, and nothing for
// an installed addon (Jaeger in Zipkin's place included), which must then answer or fail.
func TestVerifyIsToldWhatIsAbsent(t *testing.T) {
	lab := testLab()
	a := lab.Versions.Addons
	cases := []struct {
		name   string
		bundle []string // nil: online
		addons []string // nil: the defaults
		want   map[string]string
	}{
		{"online", nil, nil, map[string]string{}},
		{"offline, Jaeger for Zipkin, no Grafana", []string{a.Prometheus, a.Jaeger}, nil,
			map[string]string{verify.AddonGrafana: "not in the offline bundle: BUNDLE has no " + a.Grafana}},
		{"offline, no tracing image at all", []string{a.Prometheus, a.Grafana}, nil,
			map[string]string{verify.AddonTracing: "not in the offline bundle: BUNDLE has no " + a.Zipkin}},
		{"offline, everything", []string{a.Prometheus, a.Grafana, a.Zipkin}, nil, map[string]string{}},
		{"grafana left out", nil, []string{"jaeger", "prometheus"},
			map[string]string{verify.AddonGrafana: "skipped: components.addons has no grafana"}},
	}
	for _, c := range cases {
		_, p, _ := newTestPlan(t, func(o *Options) {
			if c.bundle != nil {
				o.BundleDir = writeBundle(t, c.bundle...)
			}
			if c.addons != nil {
				o.Lab.Components.Addons = c.addons
			}
		})
		got := map[string]string{}
		o, err := p.verifyOptions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for role, err := range o.Absent {
			got[role] = err.Error()
			if p.BundleDir != "" {
				got[role] = strings.ReplaceAll(got[role], p.BundleDir+" ", "BUNDLE ")
			}
			if strings.HasPrefix(got[role], "not in") != errors.Is(err, verify.ErrNotInBundle) {
				t.Errorf("%s: %s: %v does not wrap ErrNotInBundle", c.name, role, err)
			}
		}
		if !maps.Equal(got, c.want) {
			t.Errorf("%s: absent %q, want %q", c.name, got, c.want)
		}
		// `meshlab verify bookinfo --bundle DIR` decides the same way.
		alone, err := AbsentAddons(p.Lab, p.BundleDir)
		if err != nil || len(alone) != len(got) {
			t.Errorf("%s: AbsentAddons = %v, %v", c.name, alone, err)
		}
	}
}

// TestBundleWithBookinfoImagesRunsUpstreamBookinfo: an online bundle carries Istio's Bookinfo
// images, so Bookinfo runs them (side-loaded) rather than the Go services; with the mesh off
// the meshlab image is then not needed at all.
func TestBundleWithBookinfoImagesRunsUpstreamBookinfo(t *testing.T) {
	lab := testLab()
	var imgs []string
	for _, svc := range versions.BookinfoServices() {
		imgs = append(imgs, lab.Versions.Bookinfo.Image(svc))
	}
	ps, p, fc := newTestPlan(t, func(o *Options) { o.BundleDir = writeBundle(t, imgs...) })
	if err := engine.Execute(context.Background(), testRun(&recorder{}), engine.Phases{ps[4]}); err != nil {
		t.Fatal(err)
	}
	d, err := fc.kube.AppsV1().Deployments("bookinfo").Get(context.Background(), "reviews-v2", metav1GetOptions())
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != lab.Versions.Bookinfo.Image("reviews-v2") {
		t.Errorf("reviews-v2 runs %s, want the bundle's upstream image", img)
	}
	p.Lab.Components.Mesh = false
	if (&Image{plan: p}).ShouldRun(nil) {
		t.Error("upstream Bookinfo without the mesh needs no meshlab image")
	}
	p.bundleImages = map[string]string{imgs[0]: "images/x.tar"} // one image short: the Go services
	if !p.goBookinfo() {
		t.Error("a bundle lacking a Bookinfo image must run the Go Bookinfo")
	}
}

// TestGrafanaPasswordShownOnce: the summary shows the admin password the run made, and on later
// runs only where to read it; with ClusterIP addons it offers the port-forward, not a URL.
func TestGrafanaPasswordShownOnce(t *testing.T) {
	ps, p, _ := newTestPlan(t, nil) // online: every addon installs
	summary := func() string {
		rec := &recorder{}
		if err := engine.Execute(context.Background(), testRun(rec), engine.Phases{ps[6]}); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, e := range rec.events {
			if e.Kind == "log" && e.Phase == "summary" {
				lines = append(lines, e.Line)
			}
		}
		return strings.Join(lines, "\n")
	}
	p.grafanaPassword = "s3cret-made-now"
	if got := summary(); !strings.Contains(got, "user admin, password s3cret-made-now (shown this once") {
		t.Errorf("first summary:\n%s", got)
	}
	p.grafanaPassword = ""
	if got := summary(); strings.Contains(got, "s3cret") || !strings.Contains(got, "get secret grafana-admin") {
		t.Errorf("later summary:\n%s", got)
	}
	p.Lab.Components.AddonService = addons.ServiceClusterIP
	got := summary()
	if !strings.Contains(got, "prometheus           meshlab addons port-forward prometheus --kubeconfig ") || strings.Contains(got, ":30003") {
		t.Errorf("ClusterIP summary:\n%s", got)
	}
}

// TestVerifyReachesClusterIPAddonsThroughForwards: with ClusterIP addons the verify phase checks
// them on port-forwards (one per addon, all stopped afterwards), not on NodePorts.
func TestVerifyReachesClusterIPAddonsThroughForwards(t *testing.T) {
	srv := bookinfoPage(http.StatusOK)
	defer srv.Close()
	ps, p, _ := newTestPlan(t, nil)
	p.noRetry, p.Verify = true, VerifyQuick
	p.Lab.Components.AddonService = addons.ServiceClusterIP
	p.VerifyLab = func(o verify.ClusterOptions) (verify.Lab, error) {
		return verify.Lab{Namespace: o.Namespace, Browser: verify.Browser{BaseURL: srv.URL},
			PrometheusURL: "http://10.9.0.2:30003", GrafanaURL: "http://10.9.0.2:30002", TracingURL: "http://10.9.0.2:30001"}, nil
	}
	open := map[string]bool{}
	p.forward = func(_ context.Context, _, addon string) (string, func(), error) {
		open[addon] = true
		return "http://127.0.0.1:1/" + addon, func() { delete(open, addon) }, nil
	}
	lab := verify.Lab{}
	stop, err := p.forwardAddons(context.Background(), &lab)
	if err != nil {
		t.Fatal(err)
	}
	if lab.PrometheusURL != "http://127.0.0.1:1/prometheus" || lab.GrafanaURL != "http://127.0.0.1:1/grafana" || lab.TracingURL != "http://127.0.0.1:1/zipkin" {
		t.Errorf("lab URLs %+v", lab)
	}
	stop()
	_ = engine.Execute(context.Background(), testRun(&recorder{}), engine.Phases{ps[5]})
	if len(open) != 0 {
		t.Errorf("forwards left open: %v", open)
	}
}

// tunnelReach is a lab reached only through SSH: every NodePort on its own forwarded local port.
type tunnelReach struct{}

func (tunnelReach) NodePort(_ context.Context, port int) (string, error) {
	return "127.0.0.1:" + strconv.Itoa(40000+port%1000), nil
}
func (tunnelReach) NodeHost() string { return "10.0.2.15" }
func (tunnelReach) AccessHint() string {
	return "the API server is reachable only through SSH: keep `ssh ...` running"
}

// TestVerifyAndSummaryThroughSSH: verify reaches the entry points on the forwarded ports; the
// summary names the node address and says how to reach it after the run.
func TestVerifyAndSummaryThroughSSH(t *testing.T) {
	_, p, _ := newTestPlan(t, func(o *Options) { o.Reach = tunnelReach{} })
	o, err := p.verifyOptions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if o.Node != "127.0.0.1" || o.Ports.Gateway != 40080 || o.Ports.Grafana != 40002 {
		t.Errorf("verify options = %+v", o)
	}
	rec := &recorder{}
	if err := (&Summary{plan: p}).Run(context.Background(), testRun(rec)); err != nil {
		t.Fatal(err)
	}
	var lines []string
	rec.mu.Lock()
	for _, e := range rec.events {
		lines = append(lines, e.Line)
	}
	rec.mu.Unlock()
	all := strings.Join(lines, "\n")
	if !strings.Contains(all, "http://10.0.2.15:30080/productpage") || !strings.Contains(all, "reachable only through SSH") {
		t.Errorf("summary:\n%s", all)
	}
}
