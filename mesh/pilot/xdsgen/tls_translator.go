package xdsgen

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// Envoy's names for what the mesh's TLS needs, as Istio's pilot writes them.
const (
	// TransportSocketMatchKey is the endpoint metadata namespace Envoy matches a cluster's
	// transport_socket_matches against.
	TransportSocketMatchKey = "envoy.transport_socket_match"
	// tlsModeMatch names the match for endpoints with a sidecar, rawMatch the fallback.
	tlsModeMatch = "tlsMode-istio"
	rawMatch     = "tlsMode-disabled"
	// InboundPassthrough is the cluster inbound filter chains hand connections to (the local app).
	InboundPassthrough = "InboundPassthroughCluster"
	// The inbound listener's port, Istio's 15006.
	inboundPort = 15006
)

// clusterTLS sets how c's upstream connections are secured: with auto mTLS (no tls setting)
// a transport socket match picks mutual TLS for endpoints labelled with a sidecar and plaintext
// for the rest, as Istio renders it; ISTIO_MUTUAL always uses the mesh's certificates (the
// "default" and "ROOTCA" SDS secrets); SIMPLE and MUTUAL use the user's files.
func clusterTLS(c *clusterv3.Cluster, cl *config.Cluster, credentials map[string]config.Credential) {
	switch cl.TLS.Mode {
	case config.TLSAuto:
		match, _ := structpb.NewStruct(map[string]any{"tlsMode": xdsnames.TLSModeIstio})
		c.TransportSocketMatches = []*clusterv3.Cluster_TransportSocketMatch{
			{Name: tlsModeMatch, Match: match, TransportSocket: meshUpstreamTLS(cl)},
			{Name: rawMatch, Match: &structpb.Struct{}, TransportSocket: rawBuffer()},
		}
	case config.TLSIstioMutual:
		c.TransportSocket = meshUpstreamTLS(cl)
	case config.TLSSimple, config.TLSMutual:
		c.TransportSocket = userUpstreamTLS(cl.TLS, credentials[cl.TLS.CredentialName])
	}
}

// meshUpstreamTLS is the client side of the mesh's mutual TLS: the workload certificate, the
// mesh root, and the identities the cluster's endpoints must present (each endpoint's own is
// in its metadata too, which the meshlab sidecar checks per endpoint).
func meshUpstreamTLS(cl *config.Cluster) *corev3.TransportSocket {
	ids := map[string]bool{}
	for _, e := range cl.Endpoints {
		if e.Identity != "" {
			ids[e.Identity] = true
		}
	}
	var sans []*tlsv3.SubjectAltNameMatcher
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		sans = append(sans, &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_URI,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: id}}})
	}
	return tlsSocket(&tlsv3.UpstreamTlsContext{Sni: cl.TLS.SNI, CommonTlsContext: meshCommonTLS(sans)})
}

func meshCommonTLS(sans []*tlsv3.SubjectAltNameMatcher) *tlsv3.CommonTlsContext {
	return &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: xdsnames.SecretWorkload, SdsConfig: adsSource()}},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sans},
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: xdsnames.SecretRootCA, SdsConfig: adsSource()},
		}},
	}
}

// userUpstreamTLS is TLS to a server outside the mesh with the user's files, or with the
// credential of a Secret through SDS (Istio's kubernetes:// secret names). No CA verifies against
// the system's roots; insecureSkipVerify is Envoy's ACCEPT_UNTRUSTED.
func userUpstreamTLS(t config.ClientTLS, cred config.Credential) *corev3.TransportSocket {
	vc := &tlsv3.CertificateValidationContext{}
	if t.CACertificates != "" {
		vc.TrustedCa = fileSource(t.CACertificates)
	}
	if t.CredentialName != "" {
		name := xdsnames.CredentialPrefix + t.CredentialName
		common := &tlsv3.CommonTlsContext{ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}}
		if len(cred.CA) > 0 {
			common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         vc,
				ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: name + xdsnames.CredentialCASuffix, SdsConfig: adsSource()},
			}}
		}
		if t.Mode == config.TLSMutual {
			common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{{Name: name, SdsConfig: adsSource()}}
		}
		addUserValidation(vc, t)
		return tlsSocket(&tlsv3.UpstreamTlsContext{Sni: t.SNI, CommonTlsContext: common})
	}
	addUserValidation(vc, t)
	common := &tlsv3.CommonTlsContext{ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}}
	if t.Mode == config.TLSMutual {
		common.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: fileSource(t.ClientCertificate), PrivateKey: fileSource(t.PrivateKey)}}
	}
	return tlsSocket(&tlsv3.UpstreamTlsContext{Sni: t.SNI, CommonTlsContext: common})
}

func addUserValidation(vc *tlsv3.CertificateValidationContext, t config.ClientTLS) {
	if t.InsecureSkipVerify {
		vc.TrustChainVerification = tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED
	}
	for _, san := range t.SubjectAltNames {
		vc.MatchTypedSubjectAltNames = append(vc.MatchTypedSubjectAltNames, &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_DNS,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}}})
	}
}

// Secrets renders the Secrets' credentials the clusters name as SDS secrets, sorted by name:
// the certificate and key (MUTUAL) and the trust anchors, inline.
func Secrets(t *config.Table) []*tlsv3.Secret {
	seen := map[string]bool{}
	var out []*tlsv3.Secret
	for _, name := range slices.Sorted(maps.Keys(t.Clusters)) {
		cl := t.Clusters[name]
		cn := cl.TLS.CredentialName
		cred, ok := t.Credentials[cn]
		if cn == "" || !ok || seen[cn] {
			continue
		}
		seen[cn] = true
		if len(cred.Cert) > 0 {
			out = append(out, &tlsv3.Secret{Name: xdsnames.CredentialPrefix + cn, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
				CertificateChain: inlineSource(cred.Cert), PrivateKey: inlineSource(cred.Key)}}})
		}
		if len(cred.CA) > 0 {
			out = append(out, &tlsv3.Secret{Name: xdsnames.CredentialPrefix + cn + xdsnames.CredentialCASuffix, Type: &tlsv3.Secret_ValidationContext{
				ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: inlineSource(cred.CA)}}})
		}
	}
	slices.SortFunc(out, func(a, b *tlsv3.Secret) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func inlineSource(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

func fileSource(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

func tlsSocket(ctx proto.Message) *corev3.TransportSocket {
	a, _ := anypb.New(ctx)
	return &corev3.TransportSocket{Name: wellknown.TransportSocketTLS, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}
}

func rawBuffer() *corev3.TransportSocket {
	a, _ := anypb.New(&rawbufferv3.RawBuffer{})
	return &corev3.TransportSocket{Name: wellknown.TransportSocketRawBuffer, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}
}

// InboundListener renders the proxy's inbound TLS policy as Istio's virtualInbound: per port,
// a filter chain for TLS (mutual TLS with the mesh's certificates, client certificate required)
// when the mode allows it and one for plaintext when the mode allows that, the TLS inspector
// telling them apart; ports without an exception fall to the chains without a port.
func InboundListener(in config.InboundTLS) *listenerv3.Listener {
	l := &listenerv3.Listener{
		Name:             xdsnames.InboundListener,
		Address:          socketAddress(netip.IPv4Unspecified(), inboundPort),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		ListenerFilters: []*listenerv3.ListenerFilter{
			{Name: wellknown.OriginalDestination},
			{Name: wellknown.TlsInspector},
		},
	}
	ports := slices.Sorted(maps.Keys(in.Ports))
	for _, p := range ports {
		l.FilterChains = append(l.FilterChains, inboundChains(in.Ports[p], p)...)
	}
	l.FilterChains = append(l.FilterChains, inboundChains(in.ModeFor(0), 0)...)
	return l
}

func inboundChains(mode config.MTLSMode, port uint16) []*listenerv3.FilterChain {
	chain := func(transport string, socket *corev3.TransportSocket) *listenerv3.FilterChain {
		m := &listenerv3.FilterChainMatch{TransportProtocol: transport}
		if port != 0 {
			m.DestinationPort = wrapperspb.UInt32(uint32(port))
		}
		return &listenerv3.FilterChain{FilterChainMatch: m, TransportSocket: socket, Filters: []*listenerv3.Filter{
			typedFilter(wellknown.TCPProxy, &tcpproxyv3.TcpProxy{StatPrefix: InboundPassthrough,
				ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: InboundPassthrough}}),
		}}
	}
	mtls := func() *listenerv3.FilterChain {
		return chain("tls", tlsSocket(&tlsv3.DownstreamTlsContext{
			RequireClientCertificate: wrapperspb.Bool(true),
			CommonTlsContext:         meshCommonTLS(nil),
		}))
	}
	switch mode {
	case config.MTLSStrict:
		return []*listenerv3.FilterChain{mtls()}
	case config.MTLSDisable:
		return []*listenerv3.FilterChain{chain("", nil)}
	}
	return []*listenerv3.FilterChain{mtls(), chain("raw_buffer", nil)}
}
