package inject

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkManifestBookinfo injects the whole Bookinfo manifest (6 Deployments, 12 other documents).
func BenchmarkManifestBookinfo(b *testing.B) {
	in, err := os.ReadFile("testdata/bookinfo.yaml")
	if err != nil {
		b.Fatal(err)
	}
	o := testOptions()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := Manifest("bookinfo.yaml", in, o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWebhookReview is the webhook's work for one pod CREATE, without HTTP and TLS.
func BenchmarkWebhookReview(b *testing.B) {
	pod := []byte(`{"metadata":{"generateName":"reviews-v1-","labels":{"app":"reviews","version":"v1"}},"spec":{"serviceAccountName":"bookinfo-reviews","containers":[{"name":"reviews","image":"x","ports":[{"containerPort":9080}]}]}}`)
	h := NewWebhook(testOptions(), nil)
	for i := 0; b.Loop(); i++ {
		rq := podCreate(fmt.Sprint(i), pod)
		if resp := h.Review(&rq); !resp.Allowed || resp.Patch == nil {
			b.Fatal("not injected")
		}
	}
}
