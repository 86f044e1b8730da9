package inventory

import (
	"errors"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/meshlab/meshlab/provision/versions"
)

// decodeVersions overrides single fields of lab.Versions (already holding the defaults). The
// accepted keys are read from versions.Set's yaml tags, so a field added there is accepted here
// without an edit.
func (d *decoder) decodeVersions(n *yaml.Node, lab *Lab) {
	d.pos["versions"] = n
	d.overrideStruct(n, "versions", reflect.ValueOf(&lab.Versions).Elem())
}

func (d *decoder) overrideStruct(n *yaml.Node, path string, v reflect.Value) {
	pairs, _ := d.mapping(n, path, "version settings")
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			fields[tag] = i
			names = append(names, tag)
		}
	}
	for _, p := range pairs {
		fp := join(path, p.key)
		i, ok := fields[p.key]
		if !ok {
			d.problem(p.kNode, fp, "unknown field", unknownFieldHint(p.key, names))
			continue
		}
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Struct:
			d.overrideStruct(p.value, fp, f)
		case reflect.String:
			if s, ok := d.str(p.value, fp); ok {
				f.SetString(s)
			}
		}
	}
}

// completeVersions keeps the Kubernetes pins consistent when only kubernetes.version was given:
// the package and repository are derived from it instead of staying at the defaults' values.
func (d *decoder) completeVersions(s *versions.Set) {
	if _, set := d.pos["versions.kubernetes.version"]; !set {
		return
	}
	pkg, repo, ok := versions.DeriveKubernetes(s.Kubernetes.Version)
	if !ok {
		return // Validate reports the malformed version
	}
	if _, set := d.pos["versions.kubernetes.package"]; !set {
		s.Kubernetes.Package = pkg
	}
	if _, set := d.pos["versions.kubernetes.repo"]; !set {
		s.Kubernetes.Repo = repo
	}
}

// checkVersions turns the Set's own validation into positioned problems.
func (d *decoder) checkVersions(s versions.Set) {
	for _, err := range s.Validate() {
		var fe *versions.FieldError
		if !errors.As(err, &fe) {
			d.problem(d.at("versions"), "versions", err.Error(), "")
			continue
		}
		path := "versions." + fe.Field
		d.problem(d.at(path), path, quoteValue(fe.Value)+" "+fe.Message, fe.Hint)
	}
}

func quoteValue(s string) string {
	return `"` + truncate(s, 60) + `"`
}
