package inject

import (
	"crypto/tls"
	"log/slog"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshlab/meshlab/mesh/ca"
)

func runtimeRaw(b []byte) runtime.RawExtension { return runtime.RawExtension{Raw: b} }

func applyPatch(t *testing.T, doc []byte, p Patch) []byte {
	t.Helper()
	raw, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	jp, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jp.Apply(doc)
	if err != nil {
		t.Fatalf("patch %s does not apply: %v", raw, err)
	}
	return out
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func tlsTrusting(root *ca.CA) *tls.Config {
	return &tls.Config{RootCAs: root.Pool(), MinVersion: tls.VersionTLS12}
}
