package inject

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

func TestSupportsNativeSidecars(t *testing.T) {
	for _, tc := range []struct {
		major, minor string
		want, err    bool
	}{
		{"1", "28", false, false},
		{"1", "29", true, false},
		{"1", "34", true, false},
		{"1", "30+", true, false}, // EKS/GKE style
		{"2", "0", true, false},
		{"1", "x", false, true},
	} {
		got, err := SupportsNativeSidecars(version.Info{Major: tc.major, Minor: tc.minor, GitVersion: "v" + tc.major + "." + tc.minor})
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s.%s: got %v, %v; want %v (error %v)", tc.major, tc.minor, got, err, tc.want, tc.err)
		}
	}
}

// TestNativeSidecarsForRealDiscovery asks client-go's discovery client, against an HTTP server
// answering /version as the apiserver does, and counts that it asks once.
func TestNativeSidecarsForRealDiscovery(t *testing.T) {
	for _, tc := range []struct {
		minor string
		want  bool
	}{{"28", false}, {"34", true}} {
		calls := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/version" {
				http.NotFound(w, r)
				return
			}
			calls++
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(version.Info{Major: "1", Minor: tc.minor, GitVersion: "v1." + tc.minor + ".2"})
		}))
		dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		got, err := NativeSidecarsFor(dc)
		srv.Close()
		if err != nil || got != tc.want || calls != 1 {
			t.Errorf("1.%s: got %v, %v after %d calls; want %v after 1", tc.minor, got, err, calls, tc.want)
		}
	}
}

func TestImage(t *testing.T) {
	if got := Image(""); got != "meshlab.local/meshlab:dev" {
		t.Errorf("Image(\"\") = %q", got)
	}
	if got := Image("v0.3.0"); got != "meshlab.local/meshlab:v0.3.0" {
		t.Errorf("Image(v0.3.0) = %q", got)
	}
}
