package gateway

import (
	"path"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshlab/meshlab/mesh/inject"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// Kubernetes names of the ingress gateway.
const (
	DeploymentName = "meshlab-ingressgateway"
	// DefaultNodePort is where http://<node>:30080/productpage reaches the gateway's port 8080.
	DefaultNodePort = 30080
	// ServerPort is the port bookinfo-gateway.yaml declares (Istio's gateways listen on 8080).
	ServerPort = 8080
)

// ManifestOptions choose the gateway's Kubernetes objects.
type ManifestOptions struct {
	Namespace string // default meshlab-system
	Image     string // the meshlab image, e.g. meshlab.local/meshlab:v0.1.0
	// PullPolicy: Never for a side-loaded image (default IfNotPresent).
	PullPolicy string
	NodePort   int // default DefaultNodePort
	// ZipkinURL is where the gateway reports spans; default the addons' "zipkin" Service
	// (Zipkin, or Jaeger's Zipkin receiver) in meshlab-system.
	ZipkinURL string
}

// DefaultZipkinURL is the span endpoint of the lab's tracing addon, whichever backend.
const DefaultZipkinURL = "http://zipkin.meshlab-system.svc.cluster.local:9411/api/v2/spans"

// Manifest returns the gateway's ServiceAccount, RBAC (read services, endpoints, pods,
// namespaces and Istio routing), Deployment and NodePort Service, in apply order.
func Manifest(o ManifestOptions) []*unstructured.Unstructured {
	if o.Namespace == "" {
		o.Namespace = "meshlab-system"
	}
	if o.PullPolicy == "" {
		o.PullPolicy = "IfNotPresent"
	}
	if o.NodePort == 0 {
		o.NodePort = DefaultNodePort
	}
	if o.ZipkinURL == "" {
		o.ZipkinURL = DefaultZipkinURL
	}
	labels := map[string]any{}
	for k, v := range DefaultLabels() {
		labels[k] = v
	}
	meta := func(name string, namespaced bool) map[string]any {
		m := map[string]any{"name": name, "labels": map[string]any{"app": DeploymentName}}
		if namespaced {
			m["namespace"] = o.Namespace
		}
		return m
	}
	obj := func(apiVersion, kind string, m map[string]any, rest map[string]any) *unstructured.Unstructured {
		u := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": m}
		for k, v := range rest {
			u[k] = v
		}
		return &unstructured.Unstructured{Object: u}
	}
	read := []any{"get", "list", "watch"}
	return []*unstructured.Unstructured{
		obj("v1", "ServiceAccount", meta(DeploymentName, true), nil),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", meta(DeploymentName, false), map[string]any{"rules": []any{
			map[string]any{"apiGroups": []any{""}, "resources": []any{"services", "endpoints", "pods", "namespaces"}, "verbs": read},
			map[string]any{"apiGroups": []any{"discovery.k8s.io"}, "resources": []any{"endpointslices"}, "verbs": read},
			map[string]any{"apiGroups": []any{"networking.istio.io", "config.istio.io", "security.istio.io"}, "resources": []any{"*"}, "verbs": read},
		}}),
		obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", meta(DeploymentName, false), map[string]any{
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": DeploymentName},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": DeploymentName, "namespace": o.Namespace}},
		}),
		obj("apps/v1", "Deployment", meta(DeploymentName, true), map[string]any{"spec": map[string]any{
			"replicas": int64(1),
			"selector": map[string]any{"matchLabels": map[string]any{"app": DeploymentName}},
			"template": map[string]any{
				// The gateway is a proxy itself: no sidecar is injected into it.
				"metadata": map[string]any{"labels": labels, "annotations": map[string]any{
					"sidecar.istio.io/inject": "false", "prometheus.io/scrape": "true",
					"prometheus.io/port": "15090", "prometheus.io/path": "/stats/prometheus"}},
				"spec": map[string]any{
					"serviceAccountName": DeploymentName,
					"containers": []any{map[string]any{
						"name": "gateway", "image": o.Image, "imagePullPolicy": o.PullPolicy,
						"command": []any{"meshlab"},
						// The gateway's own workload identity (its ServiceAccount's): it
						// originates mutual TLS to meshed backends, so STRICT namespaces stay
						// reachable through it.
						"args": []any{"mesh", "gateway", "--kube", "--zipkin-url", o.ZipkinURL,
							"--mtls", "--ca", inject.DefaultXDSAddress, "--ca-root-cert", xdsnames.RootCertPath,
							"--token", xdsnames.TokenPath, "--service-account", DeploymentName},
						// Its identity in telemetry and in its certificate, as an injected sidecar
						// learns its own.
						"env": []any{map[string]any{"name": "POD_NAMESPACE",
							"valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.namespace"}}}},
						"ports": []any{
							map[string]any{"name": "http", "containerPort": int64(ServerPort)},
							map[string]any{"name": "http-envoy-prom", "containerPort": int64(15090)},
							map[string]any{"name": "status-port", "containerPort": int64(15021)},
						},
						"readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/healthz/ready", "port": int64(15021)}},
						// A proxy facing the outside needs no privilege: it listens above 1024, writes
						// only its translated config (to /tmp, an emptyDir), and runs no other program.
						"securityContext": map[string]any{"runAsUser": int64(1337), "runAsGroup": int64(1337),
							"runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
							"capabilities":   map[string]any{"drop": []any{"ALL"}},
							"seccompProfile": map[string]any{"type": "RuntimeDefault"}},
						"volumeMounts": []any{
							map[string]any{"name": "tmp", "mountPath": "/tmp"},
							map[string]any{"name": inject.TokenVolumeName, "mountPath": path.Dir(xdsnames.TokenPath), "readOnly": true},
							map[string]any{"name": inject.RootCertVolumeName, "mountPath": xdsnames.RootCertDir, "readOnly": true},
						},
					}},
					"volumes": []any{
						map[string]any{"name": "tmp", "emptyDir": map[string]any{"sizeLimit": "16Mi"}},
						map[string]any{"name": inject.TokenVolumeName, "projected": map[string]any{"sources": []any{
							map[string]any{"serviceAccountToken": map[string]any{"audience": xdsnames.TokenAudience,
								"expirationSeconds": int64(xdsnames.TokenExpirySeconds), "path": path.Base(xdsnames.TokenPath)}}}}},
						map[string]any{"name": inject.RootCertVolumeName, "configMap": map[string]any{"name": xdsnames.RootCertConfigMap}},
					},
				},
			},
		}}),
		obj("v1", "Service", meta(DeploymentName, true), map[string]any{"spec": map[string]any{
			"type":     "NodePort",
			"selector": map[string]any{"app": DeploymentName},
			"ports": []any{map[string]any{"name": "http", "port": int64(80), "targetPort": int64(ServerPort),
				"nodePort": int64(o.NodePort)}},
		}}),
	}
}
