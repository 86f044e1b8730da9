package dashboard

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
)

func TestEmbedded(t *testing.T) {
	ds, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) < 4 {
		t.Fatalf("%d dashboards, want meshlab's four", len(ds))
	}
	for _, d := range ds {
		if d.UID == "" || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q, %d panels", d.File, d.UID, len(d.Panels))
		}
	}
	if _, err := Find(ds, "MESHLAB-MESH"); err != nil {
		t.Error(err)
	}
	if _, err := Find(ds, "meshlab Service"); err != nil {
		t.Error(err)
	}
	if _, err := Find(ds, "nope"); err == nil || !strings.Contains(err.Error(), "meshlab-mesh") {
		t.Errorf("an unknown name must list the choices: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	if _, err := Parse("dashboards/x.json", []byte("{")); err == nil || !strings.Contains(err.Error(), "dashboards/x.json") {
		t.Errorf("bad JSON: %v", err)
	}
	if _, err := Parse("y.json", []byte(`{"title":"t"}`)); err == nil || !strings.Contains(err.Error(), "no uid") {
		t.Errorf("no uid: %v", err)
	}
}

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		name, q string
		vars    map[string]string
		want    string
	}{
		{"rate interval", `rate(x[$__rate_interval])`, nil, `rate(x[2m])`},
		{"interval and range", `avg_over_time(x[${__interval}]) / x offset $__range`, nil, `avg_over_time(x[2m]) / x offset 3h`},
		{"variable matches all", `x{reporter="source",destination_service="$service"}`, nil, `x{reporter="source",destination_service=~".+"}`},
		{"braced and regex", `x{destination_workload=~"${workload}"}`, nil, `x{destination_workload=~".+"}`},
		{"negative", `x{a!="$ns"}`, nil, `x{a!~".+"}`},
		{"valued", `x{destination_service="$service"}`, map[string]string{"service": "reviews.default.svc.cluster.local"},
			`x{destination_service="reviews.default.svc.cluster.local"}`},
		{"valued quoting", `x{a="$v"}`, map[string]string{"v": `say "hi"`}, `x{a="say \"hi\""}`},
		{"longest name first", `x{a="$s"} * on() group_left $sx`, map[string]string{"s": "1", "sx": "2"}, `x{a="1"} * on() group_left 2`},
		{"no variables", `sum(up)`, nil, `sum(up)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Expand(tc.q, Target{Window: 2 * time.Minute, Range: 3 * time.Hour, Vars: tc.vars})
			if got != tc.want {
				t.Errorf("Expand(%s) = %s, want %s", tc.q, got, tc.want)
			}
		})
	}
}

// TestPrometheusGraphURL decodes the link the way Prometheus's UI does: g0, g1, … in order.
func TestPrometheusGraphURL(t *testing.T) {
	exprs := []string{`sum(rate(istio_requests_total{reporter="source"}[1m]))`, `up == 1 & 2`}
	u, err := url.Parse(PrometheusGraphURL("http://10.0.0.1:30003/", exprs, 90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/query" {
		t.Errorf("path %s, want /query", u.Path)
	}
	q := u.Query()
	for i, e := range exprs {
		g := "g" + string(rune('0'+i)) + "."
		if q.Get(g+"expr") != e || q.Get(g+"tab") != "graph" || q.Get(g+"range_input") != "1h30m" {
			t.Errorf("panel %d: %v", i, q)
		}
	}
	if strings.Index(u.RawQuery, "g0.expr") > strings.Index(u.RawQuery, "g1.expr") {
		t.Errorf("panels out of order: %s", u.RawQuery)
	}
}

func TestTextPrometheus(t *testing.T) {
	ds, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	golden.RequireEqual(t, []byte(Text(ds, Target{Prometheus: "http://192.168.56.11:30003"})))
}

func TestTextGrafana(t *testing.T) {
	ds, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := Find(ds, "meshlab-service")
	golden.RequireEqual(t, []byte(Text([]Dashboard{d}, Target{Prometheus: "http://192.168.56.11:30003",
		Grafana: "http://192.168.56.11:30002", Vars: map[string]string{"service": "reviews.default.svc.cluster.local"}})))
}

func TestSummaryLinks(t *testing.T) {
	ls, err := SummaryLinks(Target{Prometheus: "http://n:30003"})
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := Embedded()
	if len(ls) != len(ds) {
		t.Fatalf("%d summary links for %d dashboards", len(ls), len(ds))
	}
	for _, l := range ls {
		if !strings.HasPrefix(l.Title, "dashboard: ") || !strings.HasPrefix(l.URL, "http://n:30003/query?g0.expr=") {
			t.Errorf("%+v", l)
		}
	}
}
