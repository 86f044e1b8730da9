package verify

import (
	"testing"
)

func TestEmbeddedDashboardsParse(t *testing.T) {
	ds, err := EmbeddedDashboards()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) < 4 {
		t.Fatalf("got %d dashboards, want the 4 meshlab ships", len(ds))
	}
	for _, d := range ds {
		if d.Title == "" || len(d.Queries) == 0 {
			t.Errorf("dashboard %+v has no title or no queries", d)
		}
	}
}

func TestSubstituteLongestNameFirst(t *testing.T) {
	got := substitute(`x{a="$service",b="${svc}"}[$__rate_interval]`, map[string]string{
		"service": "reviews.bookinfo.svc.cluster.local", "svc": "ratings", "__rate_interval": "1m"})
	want := `x{a="reviews.bookinfo.svc.cluster.local",b="ratings"}[1m]`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestParseLabelValues(t *testing.T) {
	sel, label, ok := parseLabelValues(`label_values(istio_requests_total{reporter="destination"}, destination_workload)`)
	if !ok || sel != `istio_requests_total{reporter="destination"}` || label != "destination_workload" {
		t.Fatalf("got %q %q %v", sel, label, ok)
	}
	if _, _, ok := parseLabelValues("query_result(up)"); ok {
		t.Fatal("query_result must be rejected")
	}
}
