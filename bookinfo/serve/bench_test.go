package serve

import (
	"io"
	"net"
	"net/http"
	"testing"
)

// BenchmarkProductPage measures one /productpage through all four real services on loopback
// (productpage → details, productpage → reviews v3 → ratings): four HTTP hops per page.
func BenchmarkProductPage(b *testing.B) {
	ratingsHost, ratingsPort := startService(b, "ratings", "v1", nil)
	detailsHost, detailsPort := startService(b, "details", "v1", nil)
	reviewsHost, reviewsPort := startService(b, "reviews", "v3", map[string]string{
		"RATINGS_HOSTNAME": ratingsHost, "RATINGS_SERVICE_PORT": ratingsPort})
	ppHost, ppPort := startService(b, "productpage", "v1", map[string]string{
		"DETAILS_HOSTNAME": detailsHost, "DETAILS_SERVICE_PORT": detailsPort,
		"REVIEWS_HOSTNAME": reviewsHost, "REVIEWS_SERVICE_PORT": reviewsPort})
	url := "http://" + net.JoinHostPort(ppHost, ppPort) + "/productpage"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.ReportAllocs()
	for b.Loop() {
		res, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
}
