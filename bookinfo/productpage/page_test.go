package productpage

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/bookinfo/reviews"
	"github.com/meshlab/meshlab/internal/golden"
)

// TestGoldenPages pins the whole HTML for fixed backend replies. Refresh with
// go test ./bookinfo/productpage -run TestGoldenPages -update
func TestGoldenPages(t *testing.T) {
	cases := []struct {
		name             string
		user             string
		details, reviews outcome
	}{
		{"v1-anonymous", "", outcome{200, []byte(detailsJSON)}, outcome{200, []byte(reviewsJSON("", ""))}},
		{"v2-jason", "jason", outcome{200, []byte(detailsJSON)}, outcome{200, []byte(reviewsJSON(blackStars, fourBlack))}},
		{"ratings-unavailable", "jason", outcome{200, []byte(detailsJSON)}, outcome{200, []byte(reviewsJSON(ratingErr, ratingErr))}},
		{"backends-failed", "", outcome{status: 500}, outcome{status: 503}},
	}
	r := newPageRenderer()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.render(tc.user, tc.details, tc.reviews)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tc.name+".golden.html"), got)
		})
	}
}

// TestReviewsVersionsRender wires productpage to the real reviews handler of each version and
// checks the markers routing tests rely on, counted on upstream's template with the default
// ratings (5 and 4 stars): v1 shows no stars, v2 two black star rows with 9 full stars, v3 the
// same in red (bookinfo/verify's Page classifies pages by them).
func TestReviewsVersionsRender(t *testing.T) {
	ratings := httptest.NewServer(&fakeBackend{replies: ok(ratingsJSON)})
	t.Cleanup(ratings.Close)
	details := httptest.NewServer(&fakeBackend{replies: ok(detailsJSON)})
	t.Cleanup(details.Close)
	cases := []struct {
		version   string
		present   map[string]int
		forbidden []string
	}{
		{"v1", map[string]int{"Book Reviews": 1, "glyphicon glyphicon-star": 0, "Reviews served by:": 2},
			[]string{"gap-x-1 text-", "Ratings service is currently unavailable"}},
		{"v2", map[string]int{`class="flex gap-x-1 text-black-500"`: 2, `id="glyphicon glyphicon-star"`: 9,
			`<svg class="h-5 w-5 flex-none"`: 1}, []string{`gap-x-1 text-red-500`}},
		{"v3", map[string]int{`class="flex gap-x-1 text-red-500"`: 2, `id="glyphicon glyphicon-star"`: 9,
			`<svg class="h-5 w-5 flex-none"`: 1}, []string{"text-black-500"}},
	}
	for _, tc := range cases {
		t.Run(tc.version, func(t *testing.T) {
			opts, err := reviews.ForVersion(tc.version)
			if err != nil {
				t.Fatal(err)
			}
			opts.RatingsURL = ratings.URL + "/ratings"
			opts.PodName = "reviews-" + tc.version + "-1"
			opts.Log = quietLog
			rv := httptest.NewServer(reviews.Handler(opts))
			t.Cleanup(rv.Close)
			pp := httptest.NewServer(Handler(Options{DetailsURL: details.URL, ReviewsURL: rv.URL, RatingsURL: ratings.URL, Log: quietLog}))
			t.Cleanup(pp.Close)
			f := &fixture{url: pp.URL, client: pp.Client()}
			page := f.page(t)
			for marker, n := range tc.present {
				if got := strings.Count(page, marker); got != n {
					t.Errorf("%q appears %d times, want %d", marker, got, n)
				}
			}
			for _, marker := range tc.forbidden {
				if strings.Contains(page, marker) {
					t.Errorf("page contains %q", marker)
				}
			}
			if !strings.Contains(page, "reviews-"+tc.version+"-1") {
				t.Error("pod name missing")
			}
		})
	}
}
