package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/bookinfo/verify"
)

func TestVerifyBookinfoQuickJSON(t *testing.T) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(verify.TitleMarker + " Book Details Book Reviews"))
	}))
	defer page.Close()
	cmd := &cobra.Command{}
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&bytes.Buffer{})
	err := runVerify(context.Background(), cmd, &globalOptions{output: "json"},
		verify.Lab{Namespace: "bookinfo", Browser: verify.Browser{BaseURL: page.URL}}, true)
	if err != nil {
		t.Fatalf("quick run with only productpage reachable: %v\n%s", err, out.String())
	}
	var rep verify.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--output json is not one JSON document: %v\n%s", err, out.String())
	}
	if !rep.Passed || len(rep.Results) == 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestVerifyBookinfoRejectsBadInput(t *testing.T) {
	_, _, err := runMeshlab(t, nil, "verify", "bookinfo", "--kubeconfig", "/nonexistent/kubeconfig")
	var ue usageError
	if !errors.As(err, &ue) {
		t.Fatalf("a missing kubeconfig must be bad input (exit 2), got %v", err)
	}
	_, _, err = runMeshlab(t, nil, "--output", "yaml", "verify", "bookinfo", "--kubeconfig", "x")
	if !errors.As(err, &ue) {
		t.Fatalf("--output yaml must be bad input, got %v", err)
	}
	// Only a bundle's manifest can say an addon is not in it: a bundle that cannot be read is
	// bad input, not a lab with every addon "not in the offline bundle".
	_, _, err = runMeshlab(t, nil, "verify", "bookinfo", "--kubeconfig", "x", "--bundle", t.TempDir())
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--bundle") {
		t.Fatalf("--bundle without a manifest must be bad input, got %v", err)
	}
}
