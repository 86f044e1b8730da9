package inject

import (
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/internal/golden"
)

func TestMutatingWebhookConfigurationGolden(t *testing.T) {
	cfg, err := MutatingWebhookConfiguration(WebhookConfig{
		ServiceName: "meshlab-pilot", ServiceNamespace: "meshlab-system",
		CABundle: []byte("-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/mutatingwebhookconfiguration.yaml", y)
}

func TestMutatingWebhookConfigurationRefusesIncomplete(t *testing.T) {
	for name, c := range map[string]WebhookConfig{
		"no service": {ServiceNamespace: "ns", CABundle: []byte("x")},
		"no ns":      {ServiceName: "s", CABundle: []byte("x")},
		"no ca":      {ServiceName: "s", ServiceNamespace: "ns"},
	} {
		if _, err := MutatingWebhookConfiguration(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMutatingWebhookConfigurationURL(t *testing.T) {
	cfg, err := MutatingWebhookConfiguration(WebhookConfig{URL: "https://127.0.0.1:15017/inject", CABundle: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg.Webhooks {
		if w.ClientConfig.Service != nil || w.ClientConfig.URL == nil || *w.ClientConfig.URL != "https://127.0.0.1:15017/inject" {
			t.Errorf("%s: client config %+v", w.Name, w.ClientConfig)
		}
	}
}
