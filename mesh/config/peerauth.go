package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	securityv1beta1 "istio.io/api/security/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MTLSMode is what a sidecar accepts on an inbound port (PeerAuthentication's modes).
type MTLSMode string

const (
	MTLSStrict     MTLSMode = "STRICT"     // mutual TLS only
	MTLSPermissive MTLSMode = "PERMISSIVE" // mutual TLS or plaintext, told apart by the first bytes
	MTLSDisable    MTLSMode = "DISABLE"    // plaintext only (TLS passes through to the app as bytes)
)

// RootNamespace is the mesh's root namespace (Istio's istio-system, the namespace istiod runs
// in; meshlab's is its control plane's): a PeerAuthentication there without a selector, and
// AuthorizationPolicies and RequestAuthentications there, apply to the whole mesh.
const RootNamespace = "meshlab-system"

// InboundTLS is the resolved inbound policy of one sidecar: a mode for every port, with
// exceptions by port (the workload's container ports, as PeerAuthentication's portLevelMtls).
type InboundTLS struct {
	Mode  MTLSMode            `json:"mode"`
	Ports map[uint16]MTLSMode `json:"ports,omitempty"`
}

// ModeFor is the mode on one port.
func (in InboundTLS) ModeFor(port uint16) MTLSMode {
	if m, ok := in.Ports[port]; ok {
		return m
	}
	if in.Mode == "" {
		return MTLSPermissive
	}
	return in.Mode
}

// EffectiveInboundTLS resolves the PeerAuthentications that apply to a workload of namespace ns
// with labels, with Istio's precedence: the mesh-wide policy (no selector, root namespace), then
// the namespace's (no selector), then the workload's (a selector matching its labels, in its own
// namespace), each overriding what the one before set, a mode UNSET inheriting it; at one level
// the oldest policy wins (then the first by name). Port-level modes come from the workload
// policy only. Nothing set is PERMISSIVE.
func EffectiveInboundTLS(pas []*securityv1.PeerAuthentication, ns string, labels map[string]string) InboundTLS {
	mesh, namespace, workload := ApplyingPeerAuthentications(pas, ns, labels)
	out := InboundTLS{Mode: MTLSPermissive}
	for _, pa := range []*securityv1.PeerAuthentication{mesh, namespace, workload} {
		if pa != nil {
			if m := modeOf(pa.Spec.GetMtls()); m != "" {
				out.Mode = m
			}
		}
	}
	if workload != nil && len(workload.Spec.PortLevelMtls) > 0 {
		out.Ports = map[uint16]MTLSMode{}
		for port, m := range workload.Spec.PortLevelMtls {
			if port == 0 || port > 65535 {
				continue // refused at load; a snapshot from elsewhere cannot make the proxy crash
			}
			mode := modeOf(m)
			if mode == "" {
				mode = out.Mode
			}
			out.Ports[uint16(port)] = mode
		}
	}
	return out
}

// ApplyingPeerAuthentications picks, for a workload of namespace ns with labels, the policy in
// force at each level (nil where there is none): mesh-wide, namespace-wide, workload.
func ApplyingPeerAuthentications(pas []*securityv1.PeerAuthentication, ns string, labels map[string]string) (mesh, namespace, workload *securityv1.PeerAuthentication) {
	older := func(a, b *securityv1.PeerAuthentication) bool { // a before b
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	}
	pick := func(cur **securityv1.PeerAuthentication, pa *securityv1.PeerAuthentication) {
		if *cur == nil || older(pa, *cur) {
			*cur = pa
		}
	}
	for _, pa := range pas {
		if pa == nil {
			continue
		}
		sel := pa.Spec.GetSelector().GetMatchLabels()
		switch {
		case len(sel) == 0 && pa.Namespace == RootNamespace:
			pick(&mesh, pa)
		case len(sel) == 0 && pa.Namespace == ns:
			pick(&namespace, pa)
		case len(sel) > 0 && pa.Namespace == ns && ns != RootNamespace && labelsMatch(sel, labels):
			// A selector in the root namespace selects nothing, as in Istio.
			pick(&workload, pa)
		}
	}
	return mesh, namespace, workload
}

// ModeOf is a PeerAuthentication's own mode, "" when UNSET (inherited).
func ModeOf(pa *securityv1.PeerAuthentication) MTLSMode { return modeOf(pa.Spec.GetMtls()) }

// modeOf maps the API's mode; "" for UNSET or nil.
func modeOf(m *securityv1beta1.PeerAuthentication_MutualTLS) MTLSMode {
	switch m.GetMode() {
	case securityv1beta1.PeerAuthentication_MutualTLS_STRICT:
		return MTLSStrict
	case securityv1beta1.PeerAuthentication_MutualTLS_PERMISSIVE:
		return MTLSPermissive
	case securityv1beta1.PeerAuthentication_MutualTLS_DISABLE:
		return MTLSDisable
	}
	return ""
}

// peerAuthModes are the spellings a mode may take in a document.
var peerAuthModes = []string{"", "UNSET", "DISABLE", "PERMISSIVE", "STRICT"}

// peerAuthShape is the document's spec before protojson sees it, to name the field of an
// unknown mode or of a target reference (protojson names neither precisely).
type peerAuthShape struct {
	Mtls *struct {
		Mode string `json:"mode"`
	} `json:"mtls"`
	PortLevelMtls map[string]*struct {
		Mode string `json:"mode"`
	} `json:"portLevelMtls"`
	TargetRef  json.RawMessage `json:"targetRef"`
	TargetRefs json.RawMessage `json:"targetRefs"`
}

func (b *builder) addPeerAuthentication(apiVersion string, meta metav1.ObjectMeta, spec json.RawMessage) error {
	if meta.Name == "" {
		return errors.New("metadata.name is required")
	}
	var shape peerAuthShape
	_ = json.Unmarshal(orEmpty(spec), &shape) // a malformed spec is reported by protojson below
	var errs []error
	if len(shape.TargetRef) > 0 || len(shape.TargetRefs) > 0 {
		errs = append(errs, errors.New("spec.targetRef: a sidecar's PeerAuthentication selects workloads with spec.selector; targetRef (waypoints, gateways) is not supported and cannot be combined with selector"))
	}
	if shape.Mtls != nil && !slices.Contains(peerAuthModes, shape.Mtls.Mode) {
		errs = append(errs, fmt.Errorf("spec.mtls.mode: %q is not a mode (STRICT, PERMISSIVE, DISABLE or UNSET)", shape.Mtls.Mode))
	}
	for _, port := range sortedKeys(shape.PortLevelMtls) {
		if m := shape.PortLevelMtls[port]; m != nil && !slices.Contains(peerAuthModes, m.Mode) {
			errs = append(errs, fmt.Errorf("spec.portLevelMtls[%s].mode: %q is not a mode (STRICT, PERMISSIVE, DISABLE or UNSET)", port, m.Mode))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	pa := &securityv1.PeerAuthentication{ObjectMeta: meta}
	pa.APIVersion, pa.Kind = apiVersion, "PeerAuthentication"
	if err := strictProto.Unmarshal(orEmpty(spec), &pa.Spec); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if errs := validatePeerAuthentication(&pa.Spec, portLevelGiven(spec)); len(errs) > 0 {
		return errors.Join(errs...)
	}
	if b.pas == nil {
		b.pas = map[string]*securityv1.PeerAuthentication{}
	}
	key := "PeerAuthentication/" + meta.Namespace + "/" + meta.Name
	b.pas[key] = pa
	b.remember(key)
	return nil
}

// portLevelGiven tells "portLevelMtls: {}" (an error) from no portLevelMtls at all, which the
// decoded proto cannot.
func portLevelGiven(spec json.RawMessage) bool {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(orEmpty(spec), &m)
	_, ok := m["portLevelMtls"]
	return ok
}

// validatePeerAuthentication applies Istio's rules (pkg/config/validation): port-level modes
// only in a policy that selects workloads, at least one port when the map is given, ports in
// range.
func validatePeerAuthentication(pa *securityv1beta1.PeerAuthentication, portLevelGiven bool) []error {
	var errs []error
	emptySelector := len(pa.GetSelector().GetMatchLabels()) == 0
	if emptySelector && len(pa.PortLevelMtls) > 0 {
		errs = append(errs, errors.New("spec.portLevelMtls: a mesh-wide or namespace-wide PeerAuthentication (no spec.selector.matchLabels) cannot have port-level mTLS"))
	}
	if portLevelGiven && len(pa.PortLevelMtls) == 0 {
		errs = append(errs, errors.New("spec.portLevelMtls: if set, it needs at least one port"))
	}
	ports := make([]int, 0, len(pa.PortLevelMtls))
	for p := range pa.PortLevelMtls {
		ports = append(ports, int(p))
	}
	slices.Sort(ports)
	for _, p := range ports {
		if p <= 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("spec.portLevelMtls[%d]: the port must be in 1..65535", p))
		}
	}
	for k := range pa.GetSelector().GetMatchLabels() {
		if k == "" || strings.ContainsAny(k, " \t") {
			errs = append(errs, fmt.Errorf("spec.selector.matchLabels: %q is not a label key", k))
		}
	}
	return errs
}

// String renders the policy for dumps: "STRICT" or "PERMISSIVE (8080: DISABLE)".
func (in InboundTLS) String() string {
	s := string(in.ModeFor(0))
	if len(in.Ports) == 0 {
		return s
	}
	var parts []string
	ports := make([]int, 0, len(in.Ports))
	for p := range in.Ports {
		ports = append(ports, int(p))
	}
	slices.Sort(ports)
	for _, p := range ports {
		parts = append(parts, strconv.Itoa(p)+": "+string(in.Ports[uint16(p)]))
	}
	return s + " (" + strings.Join(parts, ", ") + ")"
}
