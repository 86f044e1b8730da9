package versions

import (
	"fmt"
	"regexp"
	"strings"
)

// FieldError is one malformed value. Field is the yaml key path inside the versions section
// ("kubernetes.version"), so the hosts-file parser can point at the line that set it.
type FieldError struct {
	Field   string
	Value   string
	Message string
	Hint    string
}

func (e *FieldError) Error() string {
	msg := fmt.Sprintf("versions.%s: %q %s", e.Field, e.Value, e.Message)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

var (
	// kubeVersionRE is a Kubernetes release tag: v<major>.<minor>.<patch>, optionally a pre-release.
	kubeVersionRE = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)(-(alpha|beta|rc)\.\d+)?$`)
	// kubePackageRE is a pkgs.k8s.io deb version such as 1.34.2-1.1.
	kubePackageRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)(~(alpha|beta|rc)\.\d+)?-\d+(\.\d+)*$`)
	kubeRepoRE    = regexp.MustCompile(`^v(\d+)\.(\d+)$`)
	// debVersionRE is a Debian package version: [epoch:]upstream[-revision], upstream starting
	// with a digit (deb-version(7)).
	debVersionRE = regexp.MustCompile(`^(\d+:)?\d[A-Za-z0-9.+~-]*$`)
	// releaseTagRE is a GitHub release tag of the form v1.2.3.
	releaseTagRE = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)
	// imageRE is a pinned image reference: [registry/]path:tag, with a tag (never "latest", so
	// a re-run gets the same bits).
	imageRE = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	tagRE   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// registryRE is a registry host with an optional path (docker.io/istio).
	registryRE = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$`)
)

// Validate reports every malformed value in s, each as a *FieldError. An empty result means the
// set is usable; it does not check that the versions exist upstream.
func (s Set) Validate() []error {
	var errs []error
	check := func(field, value string, re *regexp.Regexp, what, hint string) {
		if !re.MatchString(value) {
			msg := "is not " + what
			if value == "" {
				msg = "is empty; it must be " + what
			}
			errs = append(errs, &FieldError{Field: field, Value: value, Message: msg, Hint: hint})
		}
	}
	k := s.Kubernetes
	check("kubernetes.version", k.Version, kubeVersionRE, "a Kubernetes version", "like v1.34.2")
	check("kubernetes.package", k.Package, kubePackageRE, "a pkgs.k8s.io package version", "like 1.34.2-1.1")
	check("kubernetes.repo", k.Repo, kubeRepoRE, "a pkgs.k8s.io minor repository", "like v1.34")
	errs = append(errs, s.kubernetesConsistency()...)

	for _, f := range []struct{ field, value string }{
		{"docker.engine", s.Docker.Engine}, {"docker.cli", s.Docker.CLI}, {"docker.containerd", s.Docker.Containerd},
		{"debian.dockerIO", s.DebianRuntime.DockerIO}, {"debian.containerd", s.DebianRuntime.Containerd},
		{"debian.runc", s.DebianRuntime.Runc}, {"debian.cniPlugins", s.DebianRuntime.CNIPlugins},
	} {
		check(f.field, f.value, debVersionRE, "a Debian package version", "as printed by apt-cache madison, like 5:28.5.2-1~ubuntu.24.04~noble")
	}
	for _, f := range []struct{ field, value string }{
		{"cniPlugins", s.CNIPlugins}, {"crictl", s.Crictl}, {"flannel.version", s.Flannel.Version},
	} {
		check(f.field, f.value, releaseTagRE, "a release tag", "like v1.8.0")
	}
	for _, f := range []struct{ field, value string }{
		{"flannel.image", s.Flannel.Image}, {"flannel.cniPlugin", s.Flannel.CNIPlugin},
		{"images.pause", s.Images.Pause}, {"images.etcd", s.Images.Etcd}, {"images.coredns", s.Images.CoreDNS},
		{"addons.zipkin", s.Addons.Zipkin}, {"addons.prometheus", s.Addons.Prometheus},
		{"addons.grafana", s.Addons.Grafana}, {"addons.jaeger", s.Addons.Jaeger},
	} {
		check(f.field, f.value, imageRE, "an image reference with a tag", "like registry.k8s.io/pause:3.10.1")
		if strings.HasSuffix(f.value, ":latest") {
			errs = append(errs, &FieldError{Field: f.field, Value: f.value, Message: "uses the moving tag latest",
				Hint: "pin a release tag so every run installs the same image"})
		}
	}
	check("bookinfo.registry", s.Bookinfo.Registry, registryRE, "a registry path", "like docker.io/istio")
	check("bookinfo.tag", s.Bookinfo.Tag, tagRE, "an image tag", "like 1.20.3")
	return errs
}

// kubernetesConsistency checks that the package and repository belong to the version, a mistake
// that would otherwise surface as an apt error on every host.
func (s Set) kubernetesConsistency() []error {
	k := s.Kubernetes
	v := kubeVersionRE.FindStringSubmatch(k.Version)
	if v == nil {
		return nil // already reported as malformed
	}
	var errs []error
	if p := kubePackageRE.FindStringSubmatch(k.Package); p != nil && (p[1] != v[1] || p[2] != v[2] || p[3] != v[3]) {
		want, _, _ := DeriveKubernetes(k.Version)
		errs = append(errs, &FieldError{Field: "kubernetes.package", Value: k.Package,
			Message: "does not match kubernetes.version " + k.Version, Hint: "use " + want + " or leave it unset"})
	}
	if r := kubeRepoRE.FindStringSubmatch(k.Repo); r != nil && (r[1] != v[1] || r[2] != v[2]) {
		errs = append(errs, &FieldError{Field: "kubernetes.repo", Value: k.Repo,
			Message: "does not match kubernetes.version " + k.Version, Hint: "use v" + v[1] + "." + v[2] + " or leave it unset"})
	}
	return errs
}
