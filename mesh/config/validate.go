package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"istio.io/api/networking/v1alpha3"
)

// These validators reject what the meshlab proxy cannot do, naming the field, so a user learns at
// load time rather than by a silently ignored setting. Istio's own schema rules are not repeated.

// Validate checks every resource of s as the loader does for files, for snapshots that come
// from elsewhere (the control plane); errors name the resource and the field.
func (s *Snapshot) Validate() error {
	var errs []error
	for _, vs := range s.VirtualServices {
		for _, err := range validateVirtualService(&vs.Spec) {
			errs = append(errs, fmt.Errorf("config: VirtualService %s/%s: %w", vs.Namespace, vs.Name, err))
		}
	}
	for _, dr := range s.DestinationRules {
		for _, err := range validateDestinationRule(&dr.Spec) {
			errs = append(errs, fmt.Errorf("config: DestinationRule %s/%s: %w", dr.Namespace, dr.Name, err))
		}
	}
	for _, pa := range s.PeerAuthentications {
		for _, err := range validatePeerAuthentication(&pa.Spec, false) {
			errs = append(errs, fmt.Errorf("config: PeerAuthentication %s/%s: %w", pa.Namespace, pa.Name, err))
		}
	}
	errs = append(errs, s.validateSecurity()...)
	return errors.Join(errs...)
}

func validateVirtualService(vs *v1alpha3.VirtualService) []error {
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("spec.%s: "+format, append([]any{path}, a...)...))
	}
	if len(vs.Hosts) == 0 {
		bad("hosts", "at least one host is required")
	}
	if len(vs.Tcp) > 0 {
		bad("tcp", "TCP routes are not supported by the meshlab proxy (TCP traffic passes through to its original destination)")
	}
	if len(vs.Tls) > 0 {
		bad("tls", "TLS routes are not supported by the meshlab proxy")
	}
	for i, r := range vs.Http {
		p := fmt.Sprintf("http[%d]", i)
		if r == nil {
			bad(p, "empty route")
			continue
		}
		switch {
		case r.Redirect != nil:
			bad(p+".redirect", "not supported")
		case r.DirectResponse != nil:
			bad(p+".directResponse", "not supported")
		case r.Delegate != nil:
			bad(p+".delegate", "not supported")
		case r.Rewrite != nil:
			bad(p+".rewrite", "not supported")
		case r.Mirror != nil || len(r.Mirrors) > 0:
			bad(p+".mirror", "not supported")
		case r.CorsPolicy != nil:
			bad(p+".corsPolicy", "not supported")
		case r.Headers != nil:
			bad(p+".headers", "header manipulation is not supported")
		}
		if len(r.Route) == 0 {
			bad(p+".route", "at least one destination is required")
		}
		for j, d := range r.Route {
			if d == nil || d.Destination == nil || d.Destination.Host == "" {
				bad(fmt.Sprintf("%s.route[%d].destination.host", p, j), "required")
			}
			if d == nil {
				continue
			}
			if d.Weight < 0 {
				bad(fmt.Sprintf("%s.route[%d].weight", p, j), "must not be negative")
			}
			if d.Headers != nil {
				bad(fmt.Sprintf("%s.route[%d].headers", p, j), "header manipulation is not supported")
			}
		}
		for j, m := range r.Match {
			if m == nil {
				bad(fmt.Sprintf("%s.match[%d]", p, j), "empty match")
				continue
			}
			errs = append(errs, validateMatch(fmt.Sprintf("spec.%s.match[%d]", p, j), m)...)
		}
		if r.Retries != nil {
			if r.Retries.Attempts < 0 {
				bad(p+".retries.attempts", "must not be negative")
			}
			if _, err := parseRetryOn(r.Retries.RetryOn); err != nil {
				bad(p+".retries.retryOn", "%v", err)
			}
		}
		if f := r.Fault; f != nil {
			if f.Delay != nil {
				if f.Delay.GetFixedDelay() == nil {
					bad(p+".fault.delay", "only fixedDelay is supported")
				}
				if pc := faultPercent(f.Delay.Percentage, legacyDelayPercent(f.Delay)); pc < 0 || pc > 100 {
					bad(p+".fault.delay.percentage", "%v is outside 0..100", pc)
				}
			}
			if f.Abort != nil {
				st, ok := f.Abort.ErrorType.(*v1alpha3.HTTPFaultInjection_Abort_HttpStatus)
				if !ok {
					bad(p+".fault.abort", "only httpStatus is supported")
				} else if st.HttpStatus < 200 || st.HttpStatus > 599 {
					bad(p+".fault.abort.httpStatus", "%d is not an HTTP status", st.HttpStatus)
				}
				if pc := faultPercent(f.Abort.Percentage, 0); pc < 0 || pc > 100 {
					bad(p+".fault.abort.percentage", "%v is outside 0..100", pc)
				}
			}
		}
	}
	return errs
}

func validateMatch(path string, m *v1alpha3.HTTPMatchRequest) []error {
	var errs []error
	check := func(field string, sm *v1alpha3.StringMatch) {
		if sm == nil {
			return
		}
		if r, ok := sm.MatchType.(*v1alpha3.StringMatch_Regex); ok {
			if _, err := regexp.Compile(r.Regex); err != nil {
				errs = append(errs, fmt.Errorf("%s.%s.regex: %w", path, field, err))
			}
		}
		if sm.MatchType == nil {
			errs = append(errs, fmt.Errorf("%s.%s: one of exact, prefix or regex is required", path, field))
		}
	}
	check("uri", m.Uri)
	check("method", m.Method)
	check("authority", m.Authority)
	check("scheme", m.Scheme)
	for name, sm := range m.Headers {
		if name != strings.ToLower(name) {
			errs = append(errs, fmt.Errorf("%s.headers.%s: header names must be lowercase", path, name))
		}
		if sm != nil && sm.MatchType != nil { // an empty match means "present"
			check("headers."+name, sm)
		}
	}
	for name, sm := range m.WithoutHeaders {
		if sm != nil && sm.MatchType != nil {
			check("withoutHeaders."+name, sm)
		}
	}
	for name, sm := range m.QueryParams {
		if sm != nil && sm.MatchType != nil {
			check("queryParams."+name, sm)
		}
	}
	if len(m.Gateways) > 0 {
		errs = append(errs, fmt.Errorf("%s.gateways: gateway matches are not supported by the sidecar", path))
	}
	return errs
}

func validateDestinationRule(dr *v1alpha3.DestinationRule) []error {
	var errs []error
	if dr.Host == "" {
		errs = append(errs, errors.New("spec.host: required"))
	}
	errs = append(errs, validateTrafficPolicy("spec.trafficPolicy", dr.TrafficPolicy)...)
	for i, s := range dr.Subsets {
		p := fmt.Sprintf("spec.subsets[%d]", i)
		if s == nil {
			errs = append(errs, fmt.Errorf("%s: empty subset", p))
			continue
		}
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", p))
		}
		errs = append(errs, validateTrafficPolicy(p+".trafficPolicy", s.TrafficPolicy)...)
	}
	return errs
}

func validateTrafficPolicy(path string, tp *v1alpha3.TrafficPolicy) []error {
	if tp == nil {
		return nil
	}
	var errs []error
	if lb := tp.LoadBalancer; lb != nil {
		if _, err := lbPolicyOf(lb); err != nil {
			errs = append(errs, fmt.Errorf("%s.loadBalancer: %w", path, err))
		}
	}
	errs = append(errs, validateClientTLS(path+".tls", tp.Tls)...)
	if len(tp.PortLevelSettings) > 0 {
		errs = append(errs, fmt.Errorf("%s.portLevelSettings: not supported", path))
	}
	if od := tp.OutlierDetection; od != nil && (od.MaxEjectionPercent < 0 || od.MaxEjectionPercent > 100) {
		errs = append(errs, fmt.Errorf("%s.outlierDetection.maxEjectionPercent: %d is outside 0..100", path, od.MaxEjectionPercent))
	}
	return errs
}

// validateClientTLS applies Istio's rules for DestinationRule tls settings and refuses what the
// proxy does not do (certificates from a Secret, OCSP, TLS versions and ciphers).
func validateClientTLS(path string, t *v1alpha3.ClientTLSSettings) []error {
	if t == nil {
		return nil
	}
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: "+format, append([]any{path, field}, a...)...))
	}
	files := t.ClientCertificate != "" || t.PrivateKey != "" || t.CaCertificates != ""
	switch t.Mode {
	case v1alpha3.ClientTLSSettings_DISABLE:
	case v1alpha3.ClientTLSSettings_ISTIO_MUTUAL:
		// The mesh's own certificates: giving any other is a mistake (Istio refuses it too).
		if files || t.CredentialName != "" {
			bad("mode", "ISTIO_MUTUAL uses the mesh's certificates; clientCertificate, privateKey, caCertificates and credentialName must not be set")
		}
	case v1alpha3.ClientTLSSettings_SIMPLE, v1alpha3.ClientTLSSettings_MUTUAL:
		if t.Mode == v1alpha3.ClientTLSSettings_MUTUAL && t.CredentialName == "" && (t.ClientCertificate == "" || t.PrivateKey == "") {
			bad("clientCertificate", "MUTUAL needs clientCertificate and privateKey (files in the sidecar) or credentialName")
		}
		if t.Mode == v1alpha3.ClientTLSSettings_SIMPLE && (t.ClientCertificate != "" || t.PrivateKey != "") {
			bad("clientCertificate", "SIMPLE sends no client certificate; use MUTUAL")
		}
		if t.CredentialName != "" && files {
			bad("credentialName", "set either credentialName or the certificate files, not both")
		}
		if strings.Contains(t.CredentialName, "/") {
			bad("credentialName", "%q: name a Secret of the DestinationRule's namespace, without a namespace", t.CredentialName)
		}
	default:
		bad("mode", "%s is not a TLS mode (DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL)", t.Mode)
	}
	if t.CaCrl != "" {
		bad("caCrl", "certificate revocation lists are not supported")
	}
	return errs
}

func validateService(s *Service) error {
	if s.Name == "" {
		return errors.New("name: required")
	}
	if len(s.Ports) == 0 {
		return errors.New("ports: at least one port is required")
	}
	for i, p := range s.Ports {
		if p.Port == 0 {
			return fmt.Errorf("ports[%d].port: required", i)
		}
		if _, err := protocolOf(p); err != nil {
			return fmt.Errorf("ports[%d]: %w", i, err)
		}
	}
	for i, e := range s.Endpoints {
		if !e.Address.IsValid() {
			return fmt.Errorf("endpoints[%d].address: required", i)
		}
	}
	return nil
}

// RetryOn is the set of conditions a route retries on.
type RetryOn struct {
	FiveXX, GatewayError, ConnectFailure, RefusedStream, Reset, Retriable4xx bool
	// GRPC lists gRPC status names (cancelled, unavailable, ...) that trigger a retry.
	GRPC []string
	// Codes are explicit HTTP status codes ("503" in retryOn).
	Codes []int
}

func parseRetryOn(s string) (RetryOn, error) {
	var r RetryOn
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimSpace(c)
		switch c {
		case "":
		case "5xx":
			r.FiveXX = true
		case "gateway-error":
			r.GatewayError = true
		case "connect-failure":
			r.ConnectFailure = true
		case "refused-stream":
			r.RefusedStream = true
		case "reset":
			r.Reset = true
		case "retriable-4xx":
			r.Retriable4xx = true
		case "retriable-status-codes":
			// meaningful only with explicit codes, which are listed on their own
		case "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable":
			r.GRPC = append(r.GRPC, c)
		default:
			code, err := strconv.Atoi(c)
			if err != nil || code < 100 || code > 599 {
				return r, fmt.Errorf("unknown retry condition %q", c)
			}
			r.Codes = append(r.Codes, code)
		}
	}
	return r, nil
}

// faultPercent reads Istio's percentage, falling back to the deprecated integer percent; a fault
// with neither applies to every request, as in Istio.
func faultPercent(p *v1alpha3.Percent, legacy int32) float64 {
	switch {
	case p != nil:
		return p.Value
	case legacy != 0:
		return float64(legacy)
	}
	return 100
}
