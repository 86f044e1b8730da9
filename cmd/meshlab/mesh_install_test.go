package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/internal/kubetest"
)

func TestMeshInstallDryRunPrintsManifests(t *testing.T) {
	out, _, err := runMeshlab(t, nil, "mesh", "install", "--dry-run", "--image", "meshlab.local/meshlab:t")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"CustomResourceDefinition", "Namespace", "ClusterRole", "Deployment", "Service",
		"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		if !strings.Contains(out, "\nkind: "+kind+"\n") {
			t.Errorf("dry run lacks a %s", kind)
		}
	}
	if !strings.Contains(out, "image: meshlab.local/meshlab:t") {
		t.Error("dry run does not use --image")
	}
}

func TestMeshAnalyzeFilesOnly(t *testing.T) {
	const td = "../../mesh/analyze/testdata/"
	out, _, err := runMeshlab(t, nil, "mesh", "analyze", "--use-kube=false", "-f", td+"services.yaml", "-f", td+"mistakes.yaml")
	if !errors.Is(err, errFindings) {
		t.Fatalf("err %v, want the findings error (exit 1)", err)
	}
	if !strings.Contains(out, `Error [ML0101] (VirtualService default/reviews spec.http[0].route[1].destination.subset)`) {
		t.Fatalf("output:\n%s", out)
	}
	var ue usageError
	if _, _, err := runMeshlab(t, nil, "mesh", "analyze", "--use-kube=false"); !errors.As(err, &ue) {
		t.Fatalf("no input: %v, want a usage error", err)
	}
}

// TestMeshInstallAnalyzeUninstallAgainstRealAPIServer runs the commands as a user would.
func TestMeshInstallAnalyzeUninstallAgainstRealAPIServer(t *testing.T) {
	cluster := kubetest.Start(t)
	kc := cluster.Kubeconfig(t)
	out, _, err := runMeshlab(t, nil, "mesh", "install", "--kubeconfig", kc)
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if !strings.Contains(out, "applied Deployment meshlab-system/meshlab-pilot") {
		t.Fatalf("install output:\n%s", out)
	}
	// The cluster has the CRDs now but no Services but "kubernetes": a route to reviews is wrong.
	const td = "../../mesh/analyze/testdata/"
	out, _, err = runMeshlab(t, nil, "mesh", "analyze", "--kubeconfig", kc, "-f", td+"good.yaml")
	if !errors.Is(err, errFindings) || !strings.Contains(out, `host "reviews" matches no Service`) {
		t.Fatalf("analyze: %v\n%s", err, out)
	}
	out, _, err = runMeshlab(t, nil, "mesh", "uninstall", "--kubeconfig", kc, "--purge")
	if err != nil || !strings.Contains(out, "deleted ValidatingWebhookConfiguration meshlab-validation") {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
}
