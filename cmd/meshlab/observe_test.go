package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/provision/inventory"
)

func runRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// fakePrometheus answers the graph's instant queries with one call, productpage→details.
func fakePrometheus(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		q := r.FormValue("query")
		labels := `"reporter":"source","source_workload":"productpage-v1","source_workload_namespace":"bookinfo",` +
			`"destination_workload":"details-v1","destination_workload_namespace":"bookinfo"`
		var result string
		switch {
		case strings.Contains(q, `5..`):
			result = ``
		case strings.HasPrefix(q, "histogram_quantile"):
			result = `{"metric":{` + labels + `},"value":[1700000000,"4.5"]}`
		default:
			result = `{"metric":{` + labels + `,"destination_service":"details.bookinfo.svc.cluster.local"},"value":[1700000000,"2"]}`
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, result)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestMeshGraphOutputs(t *testing.T) {
	prom := fakePrometheus(t)
	out, err := runRoot(t, "mesh", "graph", "--prometheus", prom, "--once")
	if err != nil || !strings.Contains(out, "productpage-v1.bookinfo\n└─▶ details-v1.bookinfo   2.00 rps  err 0%     p99 4.5ms") {
		t.Fatalf("text: %v\n%s", err, out)
	}
	out, err = runRoot(t, "mesh", "graph", "--prometheus", prom, "--output", "json")
	var g struct{ Edges []struct{ Rate float64 } }
	if err != nil || json.Unmarshal([]byte(out), &g) != nil || len(g.Edges) != 1 || g.Edges[0].Rate != 2 {
		t.Fatalf("json: %v\n%s", err, out)
	}
	out, err = runRoot(t, "mesh", "graph", "--prometheus", prom, "--output", "dot")
	if err != nil || !strings.Contains(out, `"productpage-v1.bookinfo" -> "details-v1.bookinfo"`) {
		t.Fatalf("dot: %v\n%s", err, out)
	}
	dir := t.TempDir()
	// The pictures come from meshlab-graphviz: built here, found through MESHLAB_GRAPHVIZ.
	helper := filepath.Join(dir, "meshlab-graphviz")
	if b, err := exec.Command("go", "build", "-o", helper, "github.com/meshlab/meshlab/cmd/meshlab-graphviz").CombinedOutput(); err != nil {
		t.Fatalf("build meshlab-graphviz: %v\n%s", err, b)
	}
	t.Setenv(graphvizEnv, helper)
	for _, f := range []struct{ format, magic string }{{"svg", "<?xml"}, {"png", "\x89PNG"}} {
		path := filepath.Join(dir, "graph."+f.format)
		if out, err := runRoot(t, "mesh", "graph", "--prometheus", prom, "--output", f.format, "--out", path); err != nil {
			t.Fatalf("%s: %v\n%s", f.format, err, out)
		}
		if b, _ := os.ReadFile(path); !bytes.HasPrefix(b, []byte(f.magic)) {
			t.Errorf("%s starts with %q", path, b[:min(len(b), 8)])
		}
	}
}

func TestMeshGraphBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mesh", "graph"}, "no lab given"},
		{[]string{"mesh", "graph", "--prometheus", "http://127.0.0.1:1", "--output", "gif"}, `--output "gif"`},
		{[]string{"mesh", "graph", "--prometheus", "http://127.0.0.1:1", "--window", "10ms"}, "--window"},
		{[]string{"mesh", "graph", "--prometheus", "http://x", "--hosts", "h.yaml"}, "none of the others can be"},
		{[]string{"mesh", "traces"}, "no lab given"},
		{[]string{"dashboard", "--prometheus", "http://p:9090", "--var", "service"}, "want NAME=VALUE"},
		{[]string{"dashboard", "nope", "--prometheus", "http://p:9090"}, "meshlab-workload"},
	} {
		out, err := runRoot(t, tc.args...)
		var u usageError
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q\n%s", tc.args, err, tc.want, out)
		} else if !errors.As(err, &u) && !strings.Contains(tc.want, "none of the others") {
			t.Errorf("%v: %v is not a usage error (exit status 2)", tc.args, err)
		}
	}
}

func TestMeshGraphWithoutHelper(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := runRoot(t, "mesh", "graph", "--prometheus", fakePrometheus(t), "--output", "svg", "--out", filepath.Join(t.TempDir(), "g.svg"))
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("without meshlab-graphviz: %v", err)
	}
}

func TestMeshGraphPrometheusDown(t *testing.T) {
	_, err := runRoot(t, "mesh", "graph", "--prometheus", "http://127.0.0.1:1", "--once")
	if err == nil || !strings.Contains(err.Error(), "is Prometheus running?") {
		t.Fatalf("Prometheus down: %v", err)
	}
}

func TestDashboardCmd(t *testing.T) {
	out, err := runRoot(t, "dashboard", "meshlab-service", "--prometheus", "http://p:9090", "--var", "service=details.bookinfo.svc.cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"meshlab Service  (meshlab dashboard meshlab-service)", "Request volume", "http://p:9090/query?g0.expr=",
		"details.bookinfo.svc.cluster.local"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "meshlab Mesh Overview") {
		t.Errorf("NAME lists only that dashboard:\n%s", out)
	}
	out, err = runRoot(t, "dashboard", "--prometheus", "http://p:9090", "--grafana", "http://g:3000", "--output", "json")
	if err != nil || !strings.Contains(out, `"URL": "http://g:3000/d/meshlab-mesh?viewPanel=1"`) {
		t.Fatalf("json with grafana: %v\n%s", err, out)
	}
}

func TestMeshTracesCmd(t *testing.T) {
	span := func(id, parent, svc string, ts int64) string {
		return fmt.Sprintf(`{"traceId":"t1","id":%q,"parentId":%q,"name":"GET","kind":"SERVER","timestamp":%d,"duration":1000,`+
			`"localEndpoint":{"serviceName":%q},"tags":{"http.status_code":"200"}}`, id, parent, ts, svc)
	}
	trace := "[" + span("s1", "", "productpage.bookinfo", 1700000000000000) + "," + span("s2", "s1", "details.bookinfo", 1700000000000100) + "]"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v2/services":
			fmt.Fprint(w, `["productpage.bookinfo"]`)
		case "/api/v2/traces":
			fmt.Fprint(w, "["+trace+"]")
		case "/api/v2/trace/t1":
			fmt.Fprint(w, trace)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	out, err := runRoot(t, "mesh", "traces", "--tracing", srv.URL)
	if err != nil || !strings.Contains(out, "1 recent traces from zipkin") || !strings.Contains(out, "\n  details.bookinfo ") {
		t.Fatalf("list and newest waterfall: %v\n%s", err, out)
	}
	out, err = runRoot(t, "mesh", "traces", "t1", "--tracing", srv.URL, "--output", "json")
	if err != nil || !strings.Contains(out, `"service": "details.bookinfo"`) {
		t.Fatalf("one trace as json: %v\n%s", err, out)
	}
}

// TestNodePortHostFollowsTheKubeconfig: the observability commands reach the NodePorts where
// `meshlab up` reached the control plane (its kubeconfig's server), not at an SSH address of
// 127.0.0.1 (Vagrant's forwarded ports); a kubeconfig through an SSH tunnel, or none, leaves
// the first host's address.
func TestNodePortHostFollowsTheKubeconfig(t *testing.T) {
	g := &globalOptions{logDir: t.TempDir()}
	lab := &inventory.Lab{Name: "vb", Hosts: []inventory.Host{{Name: "cp1", Address: "127.0.0.1", Port: 2222}}}
	if got := nodePortHost(g, lab); got != "127.0.0.1" {
		t.Errorf("no kubeconfig: %q", got)
	}
	path, err := labKubeconfig(g, lab)
	if err != nil {
		t.Fatal(err)
	}
	write := func(server string) {
		t.Helper()
		kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: vb\n  cluster:\n    server: " + server +
			"\ncontexts:\n- name: vb\n  context: {cluster: vb, user: admin}\ncurrent-context: vb\nusers:\n- name: admin\n  user: {token: x}\n"
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("https://10.213.0.10:6443")
	if got := nodePortHost(g, lab); got != "10.213.0.10" {
		t.Errorf("kubeconfig on the node address: %q", got)
	}
	write("https://127.0.0.1:39233")
	if got := nodePortHost(g, lab); got != "127.0.0.1" {
		t.Errorf("kubeconfig through an SSH tunnel: %q", got)
	}
}
