package main

import (
	"os/exec"
	"strings"
	"testing"
)

// controlPlane are the import path prefixes the sidecar binary must not link: the control plane
// (its file and Kubernetes registries included), the CRDs and admission code, the installer and
// the Kubernetes client. Each would put control-plane code (and its package initialisation) into
// every meshed pod's memory.
var controlPlane = []string{
	"github.com/meshlab/meshlab/mesh/pilot",
	"github.com/meshlab/meshlab/mesh/install",
	"github.com/meshlab/meshlab/mesh/admission",
	"github.com/meshlab/meshlab/mesh/crds",
	"github.com/meshlab/meshlab/mesh/inject",
	"github.com/meshlab/meshlab/mesh/gateway",
	"github.com/meshlab/meshlab/cluster",
	"github.com/meshlab/meshlab/lab",
	"k8s.io/client-go",
	"k8s.io/apiextensions-apiserver",
	"helm.sh/helm",
}

// TestLinksNoControlPlane lists the binary's dependencies with the go tool and fails on any
// control-plane package.
func TestLinksNoControlPlane(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go tool to list the binary's dependencies")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, bad := range controlPlane {
			if pkg == bad || strings.HasPrefix(pkg, bad+"/") {
				t.Errorf("meshlab-proxy links %s (control plane); `go mod why` on it shows the import chain", pkg)
			}
		}
	}
}
