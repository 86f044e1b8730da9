package inject

import (
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshlab/meshlab/mesh/capture"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// Startup ordering, the trade-off between the two proxy placements:
//
//   - Native sidecar (Kubernetes ≥ 1.29, Options.NativeSidecar): the proxy is an init container
//     with restartPolicy: Always placed right after meshlab-init. The kubelet starts the next init
//     container (and then the application) only after the proxy's startupProbe passes, restarts
//     the proxy if it dies, and stops it after the application containers exit, so Jobs and
//     CronJobs complete. User init containers run behind a working proxy.
//   - Regular container (older clusters): the proxy is the FIRST container with a postStart hook
//     (`meshlab mesh wait`) that blocks until /healthz/ready answers; the kubelet starts the next
//     container only after the hook returns, which holds the application until the proxy is
//     ready (Istio's holdApplicationUntilProxyStarts). The costs: the proxy is not stopped when
//     a Job's main container exits, so a Job must end the proxy itself with
//     `curl -X POST localhost:15021/quitquitquit` (the quit endpoint the proxy must serve), and
//     user init containers run before any proxy exists, so their outbound TCP is captured but
//     unserved (exclude their destinations or run them as UID 1337).

// initContainer is the capture init container: `meshlab-proxy init` with the pod's exclusions,
// root with NET_ADMIN and NET_RAW only (iptables needs both), everything else dropped.
func initContainer(o Options, f capture.Flags) corev1.Container {
	return corev1.Container{
		Name:            InitContainerName,
		Image:           o.Image,
		ImagePullPolicy: o.ImagePullPolicy,
		Command:         []string{o.ProxyBinary},
		Args:            initArgs(f),
		Resources:       o.InitResources,
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr(int64(0)),
			RunAsGroup:               ptr(int64(0)),
			RunAsNonRoot:             ptr(false),
			Privileged:               ptr(false),
			AllowPrivilegeEscalation: ptr(false),
			// iptables-legacy takes its lock in /run/xtables.lock: the root must be writable.
			ReadOnlyRootFilesystem: ptr(false),
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
				Drop: []corev1.Capability{"ALL"},
			},
		},
	}
}

// proxyContainer is the sidecar. Placement-specific fields (restartPolicy, startupProbe,
// postStart) are set by the caller's mode.
func proxyContainer(o Options, appContainers []string) corev1.Container {
	ready := &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: ReadyPath, Port: intstr.FromInt32(HealthPort), Scheme: corev1.URISchemeHTTP,
		}},
		TimeoutSeconds: 3,
		// Istio's readiness defaults: every 15 s, unready after 4 failures.
		PeriodSeconds:    15,
		SuccessThreshold: 1,
		FailureThreshold: 4,
	}
	c := corev1.Container{
		Name:            ProxyContainerName,
		Image:           o.Image,
		ImagePullPolicy: o.ImagePullPolicy,
		Command:         []string{o.ProxyBinary},
		Args:            proxyArgs(o),
		Ports: []corev1.ContainerPort{
			{Name: "http-envoy-prom", ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP},
			{Name: "http-health", ContainerPort: HealthPort, Protocol: corev1.ProtocolTCP},
		},
		Env:            proxyEnv(appContainers),
		Resources:      o.ProxyResources,
		ReadinessProbe: ready,
		VolumeMounts:   proxyMounts(o),
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr(int64(ProxyUID)),
			RunAsGroup:               ptr(int64(ProxyUID)),
			RunAsNonRoot:             ptr(true),
			Privileged:               ptr(false),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	if o.NativeSidecar {
		c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		// The kubelet starts the next container once this passes: checked every second for up
		// to 10 minutes (Istio's numbers), so the app waits for the proxy's first config.
		startup := *ready
		startup.PeriodSeconds = 1
		startup.FailureThreshold = 600
		c.StartupProbe = &startup
		return c
	}
	c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
		Command: []string{o.Binary, "mesh", "wait",
			"--url", "http://127.0.0.1:" + strconv.Itoa(HealthPort) + ReadyPath, "--timeout", "2m"},
	}}}
	return c
}

// proxyArgs are the sidecar's arguments: with mutual TLS it dials the control plane over TLS
// trusting the mounted mesh root, proves who it is with the projected token, and gets a
// workload certificate (its key stays in the proxy's memory: nothing is written in the pod).
func proxyArgs(o Options) []string {
	args := []string{"proxy", "--xds", o.XDSAddress}
	if o.MTLS {
		args = append(args, "--xds-root-cert", xdsnames.RootCertPath, "--token", xdsnames.TokenPath, "--mtls")
	}
	return args
}

func proxyMounts(o Options) []corev1.VolumeMount {
	m := []corev1.VolumeMount{{Name: PodInfoVolumeName, MountPath: PodInfoMountPath, ReadOnly: true}}
	if o.MTLS {
		m = append(m,
			corev1.VolumeMount{Name: TokenVolumeName, MountPath: path.Dir(xdsnames.TokenPath), ReadOnly: true},
			corev1.VolumeMount{Name: RootCertVolumeName, MountPath: xdsnames.RootCertDir, ReadOnly: true})
	}
	return m
}

// identityVolumes are the projected token (audience meshlab-ca, 12 h, renewed by the kubelet)
// and the mesh root from the ConfigMap the control plane keeps in every namespace.
func identityVolumes() []corev1.Volume {
	exp := int64(xdsnames.TokenExpirySeconds)
	return []corev1.Volume{
		{Name: TokenVolumeName, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
			ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: xdsnames.TokenAudience, ExpirationSeconds: &exp, Path: path.Base(xdsnames.TokenPath)},
		}}}}},
		{Name: RootCertVolumeName, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: xdsnames.RootCertConfigMap},
		}}},
	}
}

// proxyEnv gives the proxy who it is through the downward API. Labels that identify the
// workload for telemetry (app, version) are env vars too; all labels are in the podinfo volume.
func proxyEnv(appContainers []string) []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}}
	}
	env := []corev1.EnvVar{
		field("POD_NAME", "metadata.name"),
		field("POD_NAMESPACE", "metadata.namespace"),
		field("POD_IP", "status.podIP"),
		field("INSTANCE_IP", "status.podIP"),
		field("HOST_IP", "status.hostIP"),
		field("SERVICE_ACCOUNT", "spec.serviceAccountName"),
		field("MESHLAB_META_APP", "metadata.labels['app']"),
		field("MESHLAB_META_VERSION", "metadata.labels['version']"),
		{Name: "MESHLAB_APP_CONTAINERS", Value: joinNonEmpty(appContainers...)},
		{Name: "MESHLAB_PODINFO_DIR", Value: PodInfoMountPath},
	}
	return env
}

// podInfoVolume is the downward-API volume behind MESHLAB_PODINFO_DIR.
func podInfoVolume() corev1.Volume {
	return corev1.Volume{Name: PodInfoVolumeName, VolumeSource: corev1.VolumeSource{
		DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}},
			{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.annotations"}},
		}},
	}}
}

func ptr[T any](v T) *T { return &v }
