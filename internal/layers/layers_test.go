package layers

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/meshlab/meshlab"

// The layers, top to bottom. A package may import packages of its own part and of lower
// layers, never of a higher one; parts of the same layer do not import each other unless the
// exception below says why. cmd → lab → {cluster, mesh, addons, bookinfo} → {provision,
// playbooks} → internal. (The sidecar binary's own limits: cmd/meshlab-proxy's deps test.)
var layers = [][]string{
	{"cmd"},
	{"lab"},
	{"cluster", "mesh", "addons", "bookinfo", "vagrant"},
	{"provision", "playbooks"},
	{"internal"}, // plumbing any layer may use: the Kubernetes toolkit, images, golden files
}

// sideways are the imports allowed between parts of one layer, each with its reason.
var sideways = map[[2]string]string{
	{"bookinfo", "addons"}: "verify bookinfo runs the addons' dashboard queries against the lab's Prometheus",
	{"bookinfo", "mesh"}:   "bookinfo local runs the services behind meshlab sidecars in network namespaces (mesh/localmesh)",
}

// part is the top folder of a package of this module ("" for the module root).
func part(pkg string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	top, _, _ := strings.Cut(rel, "/")
	return top
}

func layerOf(p string) int {
	for i, l := range layers {
		for _, q := range l {
			if q == p {
				return i
			}
		}
	}
	return -1
}

type goPackage struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T, args ...string) []goPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestImportsRunOneWay: no package imports a higher layer or (but for the stated exceptions)
// another part of its own layer; provision knows nothing of Kubernetes.
func TestImportsRunOneWay(t *testing.T) {
	var bad []string
	for _, p := range listPackages(t, "./...") {
		from := part(p.ImportPath)
		lf := layerOf(from)
		if lf < 0 {
			bad = append(bad, p.ImportPath+": its top folder "+from+" is in no layer (add it to layers)")
			continue
		}
		for _, imp := range p.Imports {
			if from == "provision" && strings.HasPrefix(imp, "k8s.io/") {
				bad = append(bad, p.ImportPath+" imports "+imp+": provision must not know about Kubernetes objects")
			}
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := part(imp)
			lt := layerOf(to)
			switch {
			case to == from:
			case lt < lf:
				bad = append(bad, p.ImportPath+" imports "+imp+": "+from+" is below "+to)
			case lt == lf && sideways[[2]string{from, to}] == "":
				bad = append(bad, p.ImportPath+" imports "+imp+": "+from+" and "+to+" are parts of one layer")
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}
