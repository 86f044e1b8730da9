package xds

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadIdentity(t *testing.T) {
	env := map[string]string{EnvPodName: "reviews-v1-7f9", EnvPodNamespace: "shop", EnvPodIPAlt: "10.88.0.12", EnvLabels: "app=reviews,version=v1"}
	id, err := LoadIdentity(nil, func(k string) string { return env[k] }, "")
	if err != nil {
		t.Fatal(err)
	}
	p := id.Proxy
	if p.ID != "reviews-v1-7f9.shop" || p.Namespace != "shop" || p.IP.String() != "10.88.0.12" || p.Labels["version"] != "v1" {
		t.Fatalf("from the environment: %+v", p)
	}

	id, err = LoadIdentity([]string{"testdata/features.yaml"}, func(k string) string { return env[k] }, "app=web,version=v9")
	if err != nil {
		t.Fatal(err)
	}
	if id.Proxy.ID != "web-v1.shop" || id.Proxy.Labels["version"] != "v9" {
		t.Fatalf("from the Proxy document with --labels: %+v", id.Proxy)
	}

	if id.Tracing.ZipkinURL != "" {
		t.Errorf("a Proxy document without tracing got %+v", id.Tracing)
	}

	// A Deployment's pod on Kubernetes: the workload is the Deployment, spans go to the addons'
	// zipkin Service unless ZIPKIN_URL says otherwise.
	env = map[string]string{EnvPodName: "reviews-v1-848b88cfcb-lt9xc", EnvPodNamespace: "bookinfo", EnvPodIP: "10.244.2.4",
		EnvLabels: "app=reviews,version=v1,pod-template-hash=848b88cfcb"}
	id, err = LoadIdentity(nil, func(k string) string { return env[k] }, "")
	if err != nil {
		t.Fatal(err)
	}
	if id.Proxy.Workload != "reviews-v1" || id.Proxy.ID != "reviews-v1-848b88cfcb-lt9xc.bookinfo" {
		t.Errorf("deployment pod: workload %q, id %q", id.Proxy.Workload, id.Proxy.ID)
	}
	if id.Tracing.ZipkinURL != KubeZipkinURL || id.Tracing.SamplePercent != 100 {
		t.Errorf("tracing on Kubernetes: %+v", id.Tracing)
	}
	env[EnvZipkinURL] = "http://jaeger.tracing:9411/api/v2/spans"
	env[EnvWorkload] = "reviews"
	if id, _ = LoadIdentity(nil, func(k string) string { return env[k] }, ""); id.Tracing.ZipkinURL != env[EnvZipkinURL] || id.Proxy.Workload != "reviews" {
		t.Errorf("ZIPKIN_URL and WORKLOAD_NAME not honoured: %+v %q", id.Tracing, id.Proxy.Workload)
	}

	// The labels from the injector's podinfo volume, as the kubelet writes them.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "labels"), []byte("app=\"reviews\"\npod-template-hash=\"848b88cfcb\"\nversion=\"v1\""), 0o644); err != nil {
		t.Fatal(err)
	}
	env = map[string]string{EnvPodName: "reviews-v1-848b88cfcb-lt9xc", EnvPodNamespace: "bookinfo", EnvPodInfoDir: dir}
	if id, err = LoadIdentity(nil, func(k string) string { return env[k] }, ""); err != nil || id.Proxy.Workload != "reviews-v1" || id.Proxy.Labels["version"] != "v1" {
		t.Errorf("from the podinfo volume: %+v %v", id.Proxy, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "labels"), []byte("app=reviews"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = LoadIdentity(nil, func(k string) string { return env[k] }, ""); err == nil || !strings.Contains(err.Error(), "labels:1") {
		t.Errorf("an unquoted label value: %v", err)
	}

	if _, err := LoadIdentity(nil, func(string) string { return "" }, ""); err == nil {
		t.Fatal("no identity at all was accepted")
	}
	if _, err := LoadIdentity(nil, func(k string) string { return env[k] }, "novalue"); err == nil {
		t.Fatal("labels without = were accepted")
	}
}
