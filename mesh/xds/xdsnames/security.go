package xdsnames

import "github.com/meshlab/meshlab/mesh/config"

// What the control plane, the injector and the sidecar agree on for workload identity and
// mutual TLS. The layout follows Istio's (istio-token with audience istio-ca, the
// istio-ca-root-cert ConfigMap, the "default" and "ROOTCA" SDS secrets) under meshlab's names.
const (
	// TokenAudience is the audience of the projected ServiceAccount token a sidecar proves who it
	// is with; the control plane accepts tokens for this audience only, so a token minted for
	// anything else (the apiserver's default audience included) is refused.
	TokenAudience = "meshlab-ca"
	// TokenPath is where the injector projects that token; the kubelet refreshes the file.
	TokenPath = "/var/run/secrets/tokens/meshlab-token"
	// TokenExpirySeconds is the projected token's lifetime (Istio's 12 h; the kubelet renews it at
	// 80 %).
	TokenExpirySeconds = 43200

	// RootCertConfigMap is the ConfigMap the control plane keeps in every namespace with the mesh's
	// trust anchor under RootCertKey; the injector mounts it at RootCertPath, and the sidecar
	// verifies the control plane's TLS certificate and its peers' against it.
	RootCertConfigMap = "meshlab-ca-root-cert"
	RootCertKey       = "root-cert.pem"
	RootCertDir       = "/var/run/secrets/meshlab"
	RootCertPath      = RootCertDir + "/" + RootCertKey

	// SecretWorkload and SecretRootCA name, in listeners' and clusters' transport sockets, the
	// sidecar's own certificate and the trust anchor (Istio's SDS resource names). The sidecar
	// resolves them from its own key and the certificate the CA signed for it: the private key
	// never leaves the pod.
	SecretWorkload = "default"
	SecretRootCA   = "ROOTCA"

	// TLSModeLabel marks a pod that runs a meshlab sidecar (the injector sets it; Istio's label and
	// value): clients with auto mTLS originate mutual TLS to endpoints carrying it.
	TLSModeLabel = config.TLSModeLabel
	TLSModeIstio = config.TLSModeIstio

	// InboundListener names the listener that carries a sidecar's inbound TLS policy, Istio's
	// virtualInbound.
	InboundListener = "virtualInbound"

	// CredentialPrefix names, as Istio's SDS does, the secrets of a DestinationRule's
	// credentialName: kubernetes://NAMESPACE/NAME holds the certificate and key, the same with
	// CredentialCASuffix the trust anchors. The control plane serves them over SDS.
	CredentialPrefix   = "kubernetes://"
	CredentialCASuffix = "-cacert"
)
