package xds

import (
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

	if _, err := LoadIdentity(nil, func(string) string { return "" }, ""); err == nil {
		t.Fatal("no identity at all was accepted")
	}
	if _, err := LoadIdentity(nil, func(k string) string { return env[k] }, "novalue"); err == nil {
		t.Fatal("labels without = were accepted")
	}
}
