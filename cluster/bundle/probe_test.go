package bundle

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/versions"
)

func TestProbeURLs(t *testing.T) {
	dls := []versions.Download{{Name: "kubeadm", URL: "https://dl.k8s.io/release/v1.34.2/bin/linux/amd64/kubeadm"},
		{Name: "crictl", URL: "https://github.com/a/b.tgz"}, {Name: "cni-plugins", URL: "https://github.com/c/d.tgz"}}
	images := []string{"registry.k8s.io/pause:3.10.1", "docker.io/prom/prometheus:v3.10.0", "ghcr.io/flannel-io/flannel:v0.28.10"}
	got := ProbeURLs(dls, images, Puller{Mirrors: map[string]string{"ghcr.io": "http://10.0.0.1:5000/v2/ghcr.io"}})
	want := "http://10.0.0.1:5000/v2/ https://dl.k8s.io/ https://github.com/ https://index.docker.io/v2/ https://registry.k8s.io/v2/"
	if strings.Join(got, " ") != want {
		t.Errorf("ProbeURLs = %v\nwant %s", got, want)
	}
}

// TestProbe: answering servers pass (any status, 401 included); a closed port and a server that
// never answers are both named, and the probe ends at its timeout. Everything is on loopback.
func TestProbe(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	defer ok.Close()
	stuck := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-stuck }))
	defer slow.Close()
	defer close(stuck)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	l.Close()

	if err := Probe(context.Background(), nil, []string{ok.URL + "/v2/"}, time.Second); err != nil {
		t.Errorf("a registry answering 401 counts as reachable: %v", err)
	}
	start := time.Now()
	err = Probe(context.Background(), nil, []string{ok.URL, slow.URL + "/", closed}, 300*time.Millisecond)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the probe took %s with a timeout of 300ms", took)
	}
	if err == nil || !strings.Contains(err.Error(), "2 of 3") || !strings.Contains(err.Error(), closed) ||
		!strings.Contains(err.Error(), slow.URL+"/: no answer within 300ms") {
		t.Errorf("Probe = %v", err)
	}
}
