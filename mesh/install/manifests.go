// Package install renders and applies what `meshlab mesh install` puts in a cluster — the
// meshlab-system namespace, the CRDs, RBAC, the control-plane Deployment and Service, the webhook
// CA, and the injection and validation webhooks — and removes it again. Objects are applied with
// server-side apply, so a second install converges instead of failing, and `--dry-run` prints
// exactly what would be applied.
package install

import (
	"errors"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/crds"
	"github.com/meshlab/meshlab/mesh/inject"
)

// Names of what is installed. The Service name and xDS port match inject.DefaultXDSAddress, the
// address injected sidecars dial.
const (
	Namespace   = "meshlab-system"
	Name        = "meshlab-pilot" // ServiceAccount, Deployment, Service, RBAC
	CASecret    = "meshlab-ca"    // the webhook CA (ca.crt, ca.key), shared by both webhooks
	CAMountPath = "/var/lib/meshlab/ca"
	// XDSPort serves xDS and the CA over TLS, every sidecar authenticated (Istio's 15012); the
	// plaintext 15010 is not served in a cluster.
	XDSPort      = 15012
	MetricsPort  = 15014
	WebhookPort  = inject.DefaultWebhookPort // 15017
	ValidatePort = crds.DefaultValidatorPort // 15018
)

// Options shape the installation. Image must be present on every node (side-loaded by
// SideLoad) unless a registry serves it.
type Options struct {
	Image           string            // default inject.Image("dev")
	ImagePullPolicy corev1.PullPolicy // default IfNotPresent: side-loaded images are found locally
	CACertPEM       []byte            // the webhook CA (see EnsureCA); required
	CAKeyPEM        []byte
	// MeshCA is the root the control plane signs workload certificates with, unless a cacerts
	// Secret is plugged in (see EnsureMeshCA); required.
	MeshCA   ca.Bundle
	Replicas int32 // default 1
}

func (o *Options) defaults() error {
	if o.Image == "" {
		o.Image = inject.Image("")
	}
	if o.ImagePullPolicy == "" {
		o.ImagePullPolicy = corev1.PullIfNotPresent
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if len(o.CACertPEM) == 0 || len(o.CAKeyPEM) == 0 {
		return errors.New("install: the webhook CA certificate and key are required (EnsureCA)")
	}
	if len(o.MeshCA.CACert) == 0 || len(o.MeshCA.CAKey) == 0 || len(o.MeshCA.RootCert) == 0 {
		return errors.New("install: the mesh CA is required (EnsureMeshCA)")
	}
	return nil
}

// Render returns every object to install, in apply order: CRDs and namespace first, the webhook
// registrations last, so the apiserver never calls a webhook whose server cannot exist yet.
func Render(o Options) ([]runtime.Object, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	all, err := crds.All()
	if err != nil {
		return nil, err
	}
	var out []runtime.Object
	for _, c := range all {
		c.TypeMeta = metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"}
		out = append(out, c)
	}
	out = append(out,
		&corev1.Namespace{TypeMeta: typeMeta("v1", "Namespace"), ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: labels()}},
		&corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: meta(Name)},
		clusterRole(), clusterRoleBinding(),
		&corev1.Secret{TypeMeta: typeMeta("v1", "Secret"), ObjectMeta: meta(CASecret), Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{ca.CertFile: o.CACertPEM, ca.KeyFile: o.CAKeyPEM}},
		&corev1.Secret{TypeMeta: typeMeta("v1", "Secret"), ObjectMeta: meta(MeshCASecret), Type: corev1.SecretTypeOpaque,
			Data: o.MeshCA.Files()},
		deployment(o), service(),
	)
	mwc, err := inject.MutatingWebhookConfiguration(inject.WebhookConfig{
		ServiceName: Name, ServiceNamespace: Namespace, ServicePort: 443, CABundle: o.CACertPEM,
	})
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	mwc.TypeMeta = typeMeta("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")
	vwc, err := crds.ValidatingWebhookConfiguration(crds.WebhookConfig{
		ServiceName: Name, ServiceNamespace: Namespace, ServicePort: ValidatePort, CABundle: o.CACertPEM,
	})
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	return append(out, mwc, vwc), nil
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func labels() map[string]string {
	return map[string]string{"app.kubernetes.io/part-of": "meshlab", "app.kubernetes.io/name": Name}
}

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: labels()}
}

// clusterRole grants what the registry watches and what the injector reads (the apiserver
// version, for native sidecars, needs no RBAC), TokenReviews (who a sidecar is), Secrets (the
// credentials DestinationRules name) and the one ConfigMap per namespace that carries the mesh's
// trust anchor, the only thing it writes.
func clusterRole() *rbacv1.ClusterRole {
	read := []string{"get", "list", "watch"}
	return &rbacv1.ClusterRole{
		TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "ClusterRole"),
		ObjectMeta: metav1.ObjectMeta{Name: Name, Labels: labels()},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services", "pods", "namespaces"}, Verbs: read},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
			{APIGroups: []string{"networking.istio.io"}, Resources: []string{"virtualservices", "destinationrules"}, Verbs: read},
			{APIGroups: []string{"security.istio.io"}, Resources: []string{"peerauthentications", "authorizationpolicies", "requestauthentications"}, Verbs: read},
			{APIGroups: []string{"config.istio.io"}, Resources: []string{"routerules"}, Verbs: read},
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "update"}},
			// DestinationRules' credentialName: the Secrets' TLS credentials, served over SDS to
			// the sidecars that use them (the registry keeps nothing else of a Secret).
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: read},
		},
	}
}

func clusterRoleBinding() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
		ObjectMeta: metav1.ObjectMeta{Name: Name, Labels: labels()},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: Name, Namespace: Namespace}},
	}
}

func service() *corev1.Service {
	port := func(name string, p, target int32) corev1.ServicePort {
		return corev1.ServicePort{Name: name, Port: p, TargetPort: intstr.FromInt32(target), Protocol: corev1.ProtocolTCP}
	}
	return &corev1.Service{
		TypeMeta:   typeMeta("v1", "Service"),
		ObjectMeta: meta(Name),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": Name},
			Ports: []corev1.ServicePort{
				port("tls-xds", XDSPort, XDSPort),
				port("http-monitoring", MetricsPort, MetricsPort),
				port("https-webhook", 443, WebhookPort),
				port("https-validation", ValidatePort, ValidatePort),
			},
		},
	}
}

// deployment runs the three roles of the one meshlab binary side by side: the control plane, the
// injector and the validator. They scale and fail together, like istiod, but stay separate
// processes so a crash of one does not take down the others' servers.
func deployment(o Options) *appsv1.Deployment {
	caVolume := corev1.VolumeMount{Name: "ca", MountPath: CAMountPath, ReadOnly: true}
	container := func(name string, args []string, port int32, mounts ...corev1.VolumeMount) corev1.Container {
		c := corev1.Container{
			Name: name, Image: o.Image, ImagePullPolicy: o.ImagePullPolicy,
			Command: []string{inject.BinaryPath}, Args: args,
			VolumeMounts: mounts,
			SecurityContext: &corev1.SecurityContext{
				RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(1337)), RunAsGroup: ptr(int64(1337)),
				AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
		}
		if port != 0 {
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/healthz/ready", Port: intstr.FromInt32(port), Scheme: corev1.URISchemeHTTPS}}}
		}
		return c
	}
	caArgs := []string{"--ca-dir=" + CAMountPath, "--service=" + Name, "--namespace=" + Namespace}
	return &appsv1.Deployment{
		TypeMeta:   typeMeta("apps/v1", "Deployment"),
		ObjectMeta: meta(Name),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(o.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": Name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels: map[string]string{"app": Name, "app.kubernetes.io/part-of": "meshlab"},
					Annotations: map[string]string{
						"prometheus.io/scrape": "true",
						"prometheus.io/port":   strconv.Itoa(MetricsPort),
						"prometheus.io/path":   "/metrics",
					},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName: Name,
					Containers: []corev1.Container{
						container("pilot", []string{"mesh", "pilot", "--registry=kubernetes",
							fmt.Sprintf("--secure-grpc=:%d", XDSPort), fmt.Sprintf("--debug=:%d", MetricsPort),
							"--ca-dir=" + PluggedCAMount, "--ca-dir=" + MeshCAMount}, 0,
							corev1.VolumeMount{Name: "cacerts", MountPath: PluggedCAMount, ReadOnly: true},
							corev1.VolumeMount{Name: "mesh-ca", MountPath: MeshCAMount, ReadOnly: true}),
						container("injector", append([]string{"mesh", "webhook", fmt.Sprintf("--listen=:%d", WebhookPort),
							"--image=" + o.Image, "--native-sidecar=auto"}, caArgs...), WebhookPort, caVolume),
						container("validation", append([]string{"mesh", "validation", fmt.Sprintf("--listen=:%d", ValidatePort)},
							caArgs...), ValidatePort, caVolume),
					},
					Volumes: []corev1.Volume{
						{Name: "ca", VolumeSource: corev1.VolumeSource{
							Secret: &corev1.SecretVolumeSource{SecretName: CASecret, DefaultMode: ptr(int32(0o440))}}},
						// The user's own CA, when they create the cacerts Secret (Istio's way);
						// optional, so the pod starts without it and uses the generated root.
						{Name: "cacerts", VolumeSource: corev1.VolumeSource{
							Secret: &corev1.SecretVolumeSource{SecretName: PluggedCASecret, DefaultMode: ptr(int32(0o440)), Optional: ptr(true)}}},
						{Name: "mesh-ca", VolumeSource: corev1.VolumeSource{
							Secret: &corev1.SecretVolumeSource{SecretName: MeshCASecret, DefaultMode: ptr(int32(0o440))}}},
					},
					SecurityContext: &corev1.PodSecurityContext{FSGroup: ptr(int64(1337))},
				},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }
