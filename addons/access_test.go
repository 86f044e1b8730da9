package addons

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestGrafanaAdminMadeOnce: the first call makes a random password into the Secret and returns
// it; later calls keep that Secret and return nothing to show.
func TestGrafanaAdminMadeOnce(t *testing.T) {
	cs := fake.NewClientset()
	ctx := context.Background()
	pw, created, err := EnsureGrafanaAdmin(ctx, cs, Namespace)
	if err != nil || !created || len(pw) < 20 {
		t.Fatalf("first: %q %v %v", pw, created, err)
	}
	s, err := cs.CoreV1().Secrets(Namespace).Get(ctx, GrafanaAdminSecret, metav1.GetOptions{})
	if err != nil || s.StringData["password"] != pw {
		t.Fatalf("secret %+v: %v", s, err)
	}
	again, created, err := EnsureGrafanaAdmin(ctx, cs, Namespace)
	if err != nil || created || again != "" {
		t.Fatalf("second: %q %v %v", again, created, err)
	}
	other, _, _ := EnsureGrafanaAdmin(ctx, fake.NewClientset(), Namespace)
	if other == pw {
		t.Error("two labs got the same password")
	}
}
