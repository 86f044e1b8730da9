package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// builder accumulates the documents of one Load; finish turns them into a validated Snapshot.
type builder struct {
	proxy      Proxy
	tracing    Tracing
	services   map[string]Service // by namespace/name
	vss        map[string]*networkingv1.VirtualService
	drs        map[string]*networkingv1.DestinationRule
	pas        map[string]*securityv1.PeerAuthentication
	creds      map[string]Credential // "namespace/name" of a Secret
	routeRules map[string]*routeRule
	aps        map[string]*securityv1.AuthorizationPolicy
	ras        map[string]*securityv1.RequestAuthentication
	order      int            // document counter, so later documents win and output is stable
	seq        map[string]int // resource key -> order of its last definition
}

// strictProto rejects fields the Istio API does not have, so a typo is an error, not a no-op.
var strictProto = protojson.UnmarshalOptions{DiscardUnknown: false}

func decodeMeta(raw json.RawMessage) (metav1.ObjectMeta, error) {
	var m metav1.ObjectMeta
	if err := strictJSON(raw, &m); err != nil {
		return m, err
	}
	return m, nil
}

func (b *builder) remember(key string) {
	if b.seq == nil {
		b.seq = map[string]int{}
	}
	b.order++
	b.seq[key] = b.order
}

// durationFields are the Istio fields of type google.protobuf.Duration. Users write Go-style
// durations there ("300ms", "1m") as Kubernetes accepts them; protojson only takes seconds
// ("0.3s"), so they are rewritten before decoding.
var durationFields = map[string]bool{
	"timeout": true, "perTryTimeout": true, "fixedDelay": true, "exponentialDelay": true, "backoff": true,
	"interval": true, "baseEjectionTime": true, "connectTimeout": true, "idleTimeout": true,
	"maxConnectionDuration": true, "maxAge": true, "time": true,
}

// normalizeDurations rewrites duration strings in a decoded YAML tree in place.
func normalizeDurations(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && durationFields[k] {
				if d, err := time.ParseDuration(s); err == nil {
					t[k] = strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
				}
				continue
			}
			normalizeDurations(x)
		}
	case []any:
		for _, x := range t {
			normalizeDurations(x)
		}
	}
}

func (b *builder) addVirtualService(apiVersion string, meta metav1.ObjectMeta, spec json.RawMessage) error {
	if meta.Name == "" {
		return errors.New("metadata.name is required")
	}
	vs := &networkingv1.VirtualService{ObjectMeta: meta}
	vs.APIVersion, vs.Kind = apiVersion, "VirtualService"
	if err := strictProto.Unmarshal(orEmpty(spec), &vs.Spec); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if errs := validateVirtualService(&vs.Spec); len(errs) > 0 {
		return errors.Join(errs...)
	}
	if b.vss == nil {
		b.vss = map[string]*networkingv1.VirtualService{}
	}
	key := "VirtualService/" + meta.Namespace + "/" + meta.Name
	b.vss[key] = vs
	b.remember(key)
	return nil
}

func (b *builder) addDestinationRule(apiVersion string, meta metav1.ObjectMeta, spec json.RawMessage) error {
	if meta.Name == "" {
		return errors.New("metadata.name is required")
	}
	dr := &networkingv1.DestinationRule{ObjectMeta: meta}
	dr.APIVersion, dr.Kind = apiVersion, "DestinationRule"
	if err := strictProto.Unmarshal(orEmpty(spec), &dr.Spec); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if errs := validateDestinationRule(&dr.Spec); len(errs) > 0 {
		return errors.Join(errs...)
	}
	if b.drs == nil {
		b.drs = map[string]*networkingv1.DestinationRule{}
	}
	key := "DestinationRule/" + meta.Namespace + "/" + meta.Name
	b.drs[key] = dr
	b.remember(key)
	return nil
}

// secretDoc is a Kubernetes Secret as a file holds it: data base64 (JSON's []byte), stringData
// plain.
type secretDoc struct {
	Type       string            `json:"type"`
	Data       map[string][]byte `json:"data"`
	StringData map[string]string `json:"stringData"`
}

// addSecret keeps a Secret's TLS credential, for DestinationRules' credentialName (Istio's keys,
// or the kubernetes.io/tls ones); a Secret without a certificate or a CA is another kind of
// Secret, ignored as other Kubernetes objects are.
func (b *builder) addSecret(meta metav1.ObjectMeta, raw []byte) error {
	var d secretDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("the Secret %s: %w", meta.Name, err)
	}
	get := func(keys ...string) []byte {
		for _, k := range keys {
			if v, ok := d.StringData[k]; ok {
				return []byte(v)
			}
			if v, ok := d.Data[k]; ok {
				return v
			}
		}
		return nil
	}
	c := Credential{Cert: get("cert", "tls.crt"), Key: get("key", "tls.key"), CA: get("cacert", "ca.crt")}
	if len(c.Cert) == 0 && len(c.CA) == 0 {
		return nil
	}
	if meta.Name == "" {
		return errors.New("metadata.name is required")
	}
	if b.creds == nil {
		b.creds = map[string]Credential{}
	}
	b.creds[meta.Namespace+"/"+meta.Name] = c
	return nil
}

// proxyDoc is the spec of a meshlab Proxy document.
type proxyDoc struct {
	Proxy
	Tracing *Tracing `json:"tracing,omitempty"`
}

func (b *builder) addProxy(spec json.RawMessage) error {
	var d proxyDoc
	if err := strictJSON(spec, &d); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	b.proxy = d.Proxy
	if d.Tracing != nil {
		if d.Tracing.SamplePercent < 0 || d.Tracing.SamplePercent > 100 {
			return fmt.Errorf("spec.tracing.samplePercent: %v is outside 0..100", d.Tracing.SamplePercent)
		}
		b.tracing = *d.Tracing
	}
	return nil
}

// registryDoc is the spec of a meshlab Registry document.
type registryDoc struct {
	Services []Service `json:"services"`
}

func (b *builder) addRegistry(spec json.RawMessage) error {
	var d registryDoc
	if err := strictJSON(spec, &d); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	var errs []error
	for i := range d.Services {
		s := d.Services[i]
		if s.Namespace == "" {
			s.Namespace = DefaultNamespace
		}
		if err := validateService(&s); err != nil {
			errs = append(errs, fmt.Errorf("spec.services[%d] (%s): %w", i, s.Name, err))
			continue
		}
		if b.services == nil {
			b.services = map[string]Service{}
		}
		key := "Service/" + s.Namespace + "/" + s.Name
		b.services[key] = s
		b.remember(key)
	}
	return errors.Join(errs...)
}

// finish applies defaults, translates legacy RouteRules, and orders everything by definition.
func (b *builder) finish() (*Snapshot, error) {
	s := &Snapshot{Proxy: b.proxy, Tracing: b.tracing}
	if s.Proxy.Namespace == "" {
		s.Proxy.Namespace = DefaultNamespace
	}
	if s.Proxy.ID == "" && s.Proxy.Workload != "" {
		s.Proxy.ID = s.Proxy.Workload + "." + s.Proxy.Namespace
	}
	for _, k := range b.sorted(keysOf(b.services)) {
		s.Services = append(s.Services, b.services[k])
	}
	s.VirtualServices = inOrder(b, b.vss, s.Proxy.Namespace)
	s.DestinationRules = inOrder(b, b.drs, s.Proxy.Namespace)
	s.PeerAuthentications = inOrder(b, b.pas, s.Proxy.Namespace)
	for k, c := range b.creds {
		if s.Credentials == nil {
			s.Credentials = map[string]Credential{}
		}
		if strings.HasPrefix(k, "/") { // a Secret without a namespace is the proxy's namespace's
			k = s.Proxy.Namespace + k
		}
		s.Credentials[k] = c
	}
	s.AuthorizationPolicies = inOrder(b, b.aps, s.Proxy.Namespace)
	s.RequestAuthentications = inOrder(b, b.ras, s.Proxy.Namespace)
	if len(b.routeRules) > 0 {
		vss, drs := translateRouteRules(b.routeRules, s.Proxy.Namespace)
		s.VirtualServices = append(s.VirtualServices, vss...)
		s.DestinationRules = append(s.DestinationRules, drs...)
	}
	return s, nil
}

func (b *builder) sorted(keys []string) []string {
	sort.Slice(keys, func(i, j int) bool { return b.seq[keys[i]] < b.seq[keys[j]] })
	return keys
}

// inOrder is a kind's objects in the order the documents gave them, each without a namespace
// put in the proxy's.
func inOrder[T metav1.Object](b *builder, m map[string]T, ns string) []T {
	var out []T
	for _, k := range b.sorted(keysOf(m)) {
		o := m[k]
		if o.GetNamespace() == "" {
			o.SetNamespace(ns)
		}
		out = append(out, o)
	}
	return out
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func orEmpty(raw json.RawMessage) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return []byte("{}")
	}
	return raw
}
