package xds

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"istio.io/api/networking/v1alpha3"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// transportSocketMatchKey is the endpoint metadata Envoy matches transport sockets against.
const transportSocketMatchKey = "envoy.transport_socket_match"

// clientTLS reads a cluster's transport sockets back as DestinationRule tls settings: socket
// matches are auto mTLS (no setting), a socket with the mesh's SDS secrets ISTIO_MUTUAL, one
// with files SIMPLE or MUTUAL, and none DISABLE.
func clientTLS(c *clusterv3.Cluster) (*v1alpha3.ClientTLSSettings, error) {
	if len(c.GetTransportSocketMatches()) > 0 {
		return nil, nil
	}
	ts := c.GetTransportSocket()
	if ts == nil || ts.GetName() == wellknown.TransportSocketRawBuffer {
		return &v1alpha3.ClientTLSSettings{Mode: v1alpha3.ClientTLSSettings_DISABLE}, nil
	}
	if ts.GetName() != wellknown.TransportSocketTLS {
		return nil, fmt.Errorf("transport socket %q is not supported", ts.GetName())
	}
	var up tlsv3.UpstreamTlsContext
	if err := ts.GetTypedConfig().UnmarshalTo(&up); err != nil {
		return nil, fmt.Errorf("transport socket: %w", err)
	}
	common := up.GetCommonTlsContext()
	out := &v1alpha3.ClientTLSSettings{Sni: up.GetSni()}
	credential := meta(c.GetMetadata())[xdsnames.KeyCredential].GetStringValue()
	if sds := common.GetTlsCertificateSdsSecretConfigs(); len(sds) > 0 {
		switch name := sds[0].GetName(); {
		case name == xdsnames.SecretWorkload:
			out.Mode = v1alpha3.ClientTLSSettings_ISTIO_MUTUAL
			return out, nil
		case !strings.HasPrefix(name, xdsnames.CredentialPrefix):
			return nil, fmt.Errorf("SDS secret %q: only the mesh's own %q and Secrets' %s... are served", name, xdsnames.SecretWorkload, xdsnames.CredentialPrefix)
		}
	}
	out.Mode = v1alpha3.ClientTLSSettings_SIMPLE
	if certs := common.GetTlsCertificates(); len(certs) > 0 {
		out.Mode = v1alpha3.ClientTLSSettings_MUTUAL
		out.ClientCertificate, out.PrivateKey = certs[0].GetCertificateChain().GetFilename(), certs[0].GetPrivateKey().GetFilename()
	}
	if len(common.GetTlsCertificateSdsSecretConfigs()) > 0 {
		out.Mode = v1alpha3.ClientTLSSettings_MUTUAL
	}
	if credential != "" {
		out.CredentialName = credential // "namespace/name": destinationRules puts the rule there
	}
	vc := common.GetValidationContext()
	if cvc := common.GetCombinedValidationContext(); cvc != nil {
		vc = cvc.GetDefaultValidationContext()
	}
	out.CaCertificates = vc.GetTrustedCa().GetFilename()
	if vc.GetTrustChainVerification() == tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED {
		out.InsecureSkipVerify = wrapperspb.Bool(true)
	}
	for _, m := range vc.GetMatchTypedSubjectAltNames() {
		out.SubjectAltNames = append(out.SubjectAltNames, m.GetMatcher().GetExact())
	}
	return out, nil
}

// credentialsOf are the SDS secrets' credentials by "namespace/name": the certificate and key
// under kubernetes://NS/NAME, the trust anchors under kubernetes://NS/NAME-cacert.
func credentialsOf(secrets map[string]*tlsv3.Secret) map[string]config.Credential {
	var out map[string]config.Credential
	for name, s := range secrets {
		key, ok := strings.CutPrefix(name, xdsnames.CredentialPrefix)
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]config.Credential{}
		}
		if ca, isCA := strings.CutSuffix(key, xdsnames.CredentialCASuffix); isCA && s.GetValidationContext() != nil {
			c := out[ca]
			c.CA = s.GetValidationContext().GetTrustedCa().GetInlineBytes()
			out[ca] = c
			continue
		}
		c := out[key]
		c.Cert, c.Key = s.GetTlsCertificate().GetCertificateChain().GetInlineBytes(), s.GetTlsCertificate().GetPrivateKey().GetInlineBytes()
		out[key] = c
	}
	return out
}

// secretNames are the Secrets' SDS secrets the clusters name (not the mesh's own), sorted.
func secretNames(clusters map[string]*clusterv3.Cluster) []string {
	seen := map[string]bool{}
	for _, c := range clusters {
		ts := c.GetTransportSocket()
		if ts.GetName() != wellknown.TransportSocketTLS {
			continue
		}
		var up tlsv3.UpstreamTlsContext
		if ts.GetTypedConfig().UnmarshalTo(&up) != nil {
			continue
		}
		common := up.GetCommonTlsContext()
		var names []string
		for _, s := range common.GetTlsCertificateSdsSecretConfigs() {
			names = append(names, s.GetName())
		}
		names = append(names, common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName())
		for _, n := range names {
			if strings.HasPrefix(n, xdsnames.CredentialPrefix) {
				seen[n] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// meshTLSEndpoint reads an endpoint's transport socket match: does it run a sidecar.
func meshTLSEndpoint(md *corev3.Metadata) bool {
	return md.GetFilterMetadata()[transportSocketMatchKey].GetFields()["tlsMode"].GetStringValue() == xdsnames.TLSModeIstio
}

// inboundTLS reads the virtualInbound listener back as the proxy's resolved inbound policy: per
// port (and for the rest), a TLS chain alone is STRICT, TLS and plaintext PERMISSIVE, plaintext
// alone DISABLE.
func inboundTLS(l *listenerv3.Listener) (*config.InboundTLS, error) {
	type seen struct{ tls, plain bool }
	byPort := map[uint32]*seen{}
	var order []uint32
	for i, fc := range l.GetFilterChains() {
		m := fc.GetFilterChainMatch()
		port := m.GetDestinationPort().GetValue()
		if port > 65535 {
			return nil, fmt.Errorf("filter_chains[%d]: port %d out of range", i, port)
		}
		s := byPort[port]
		if s == nil {
			s = &seen{}
			byPort[port] = s
			order = append(order, port)
		}
		switch m.GetTransportProtocol() {
		case "tls":
			if fc.GetTransportSocket() == nil {
				return nil, fmt.Errorf("filter_chains[%d]: a TLS chain without a transport socket", i)
			}
			s.tls = true
		case "raw_buffer", "":
			s.plain = true
		default:
			return nil, fmt.Errorf("filter_chains[%d]: transport protocol %q", i, m.GetTransportProtocol())
		}
	}
	mode := func(s *seen) config.MTLSMode {
		switch {
		case s.tls && s.plain:
			return config.MTLSPermissive
		case s.tls:
			return config.MTLSStrict
		}
		return config.MTLSDisable
	}
	out := &config.InboundTLS{Mode: config.MTLSPermissive}
	for _, p := range order {
		if p == 0 {
			out.Mode = mode(byPort[p])
			continue
		}
		if out.Ports == nil {
			out.Ports = map[uint16]config.MTLSMode{}
		}
		out.Ports[uint16(p)] = mode(byPort[p])
	}
	return out, nil
}
