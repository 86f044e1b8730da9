// Package gateway runs meshlab's proxy as an ingress gateway: it reads Istio Gateway resources
// whose selector matches the gateway's labels and the VirtualServices bound to them, compiles
// each server port into a synthetic mesh service whose routes are those VirtualServices' routes,
// and serves the port through mesh/proxy's outbound routing (retries, faults, load balancing,
// telemetry) with proxy.GatewayHandler.
package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/mesh/authz"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/jwtauth"
)

// DefaultLabels are the gateway pod's labels; bookinfo-gateway.yaml selects istio=ingressgateway.
func DefaultLabels() map[string]string {
	return map[string]string{"istio": "ingressgateway", "app": "meshlab-ingressgateway"}
}

// Server is one port the gateway listens on, with the synthetic service that carries its routes.
type Server struct {
	Port uint16
	// VIP:Port is the key the routes are compiled under; never dialled (192.0.2.0/24 is
	// TEST-NET-1, reserved for documentation, so it cannot clash with a real service).
	VIP      netip.Addr
	Service  string   // meshlab-gateway-<port>
	Gateways []string // namespace/name of the Gateways that declare this port
	Routes   int      // HTTP routes bound to the port
}

// Dst is the address GatewayHandler routes the port's requests as.
func (s Server) Dst() netip.AddrPort { return netip.AddrPortFrom(s.VIP, s.Port) }

// Identity is the gateway's own, as its proxy runs: its namespace names it in its metrics
// (source_workload_namespace) and in what its peers report of it; its tracing decides
// sampling, since the gateway starts the traces.
type Identity struct {
	Namespace string // default config.DefaultNamespace
	Tracing   config.Tracing
}

func (i Identity) namespace() string {
	if i.Namespace == "" {
		return config.DefaultNamespace
	}
	return i.Namespace
}

// Translation is the proxy config the gateway runs on, and the ports it serves.
type Translation struct {
	Config   []byte           // multi-document YAML for config.Load (written out for inspection)
	Snapshot *config.Snapshot // Config, parsed: what the gateway's proxy runs on
	Servers  []Server
}

// doc is one decoded input document.
type doc struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       map[string]any `json:"spec"`
	raw        map[string]any
}

func (d doc) name() string { s, _ := d.Metadata["name"].(string); return s }
func (d doc) namespace() string {
	if s, _ := d.Metadata["namespace"].(string); s != "" {
		return s
	}
	return config.DefaultNamespace
}

// PolicyNamespace is the namespace the ingress gateway runs in (meshlab-system), which decides
// the AuthorizationPolicies and RequestAuthentications that select it.
const PolicyNamespace = "meshlab-system"

// Translate turns the gateway's input files (a meshlab Registry, Istio Gateways,
// VirtualServices, DestinationRules, and optionally a Proxy identity) into the config the proxy
// loads. Documents that are not Gateways pass through unchanged; gateway-bound VirtualServices
// become routes of one synthetic service per server port. No Gateway selecting labels is not an
// error: the translation then has no Servers. self is the gateway's identity when no Proxy
// document is given.
func Translate(files map[string][]byte, labels map[string]string, self Identity) (*Translation, error) {
	var docs []doc
	for _, name := range slices.Sorted(maps.Keys(files)) {
		ds, err := decode(name, files[name])
		if err != nil {
			return nil, err
		}
		docs = append(docs, ds...)
	}
	servers := map[uint16]*Server{}
	var out bytes.Buffer
	hasProxy := false
	for _, d := range docs {
		switch {
		case isIstio(d, "Gateway"):
			if !selects(d.Spec["selector"], labels) {
				continue
			}
			ports, err := serverPorts(d)
			if err != nil {
				return nil, err
			}
			for _, p := range ports {
				s := servers[p]
				if s == nil {
					s = &Server{Port: p, VIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + len(servers))}),
						Service: fmt.Sprintf("meshlab-gateway-%d", p)}
					servers[p] = s
				}
				s.Gateways = append(s.Gateways, d.namespace()+"/"+d.name())
			}
		case d.Kind == "Proxy" && d.APIVersion == config.MeshlabAPIVersion:
			hasProxy = true
			fallthrough
		default:
			if err := writeDoc(&out, d.raw); err != nil {
				return nil, err
			}
		}
	}
	routes := map[uint16][]any{}
	for _, d := range docs {
		if !isIstio(d, "VirtualService") {
			continue
		}
		for _, s := range servers {
			if bound(d, s) {
				hr, err := qualified(d)
				if err != nil {
					return nil, err
				}
				routes[s.Port] = append(routes[s.Port], hr...)
				s.Routes += len(hr)
			}
		}
	}
	t := &Translation{}
	var regServices []any
	for _, p := range slices.Sorted(maps.Keys(servers)) {
		s := servers[p]
		t.Servers = append(t.Servers, *s)
		regServices = append(regServices, map[string]any{
			"name": s.Service, "namespace": config.DefaultNamespace, "vips": []string{s.VIP.String()},
			"ports": []any{map[string]any{"name": "http", "port": p, "protocol": "HTTP"}},
		})
		vs := map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
			"metadata": map[string]any{"name": s.Service, "namespace": config.DefaultNamespace},
			"spec":     map[string]any{"hosts": []string{s.Service}, "http": routes[p]}}
		if len(routes[p]) == 0 {
			// No bound VirtualService: every request gets "route not found" (404), as Envoy does.
			vs["spec"].(map[string]any)["http"] = []any{map[string]any{
				"match": []any{map[string]any{"headers": map[string]any{"x-meshlab-no-route": map[string]any{"exact": "never"}}}},
				"route": []any{map[string]any{"destination": map[string]any{"host": s.Service}}}}}
		}
		if err := writeDoc(&out, vs); err != nil {
			return nil, err
		}
	}
	if err := writeDoc(&out, map[string]any{"apiVersion": config.MeshlabAPIVersion, "kind": "Registry",
		"spec": map[string]any{"services": regServices}}); err != nil {
		return nil, err
	}
	if !hasProxy {
		lbl := map[string]any{}
		for k, v := range labels {
			lbl[k] = v
		}
		if err := writeDoc(&out, map[string]any{"apiVersion": config.MeshlabAPIVersion, "kind": "Proxy",
			"spec": map[string]any{"workload": DeploymentName, "namespace": self.namespace(), "labels": lbl,
				"tracing": self.Tracing}}); err != nil {
			return nil, err
		}
	}
	t.Config = out.Bytes()
	var err error
	if t.Snapshot, err = config.Parse("gateway.yaml", t.Config); err != nil {
		return nil, fmt.Errorf("gateway: translated config does not load: %w", err)
	}
	// The policies that select the gateway itself, by its labels in the namespace it runs in
	// (its Proxy document keeps "default" for routing's sake): a namespace-wide policy of
	// Bookinfo's namespace does not reach it, one in the root namespace selecting it does.
	w := authz.Workload{Namespace: PolicyNamespace, Labels: labels}
	t.Snapshot.AuthorizationPolicies = authz.Select(t.Snapshot.AuthorizationPolicies, w, config.RootNamespace)
	t.Snapshot.RequestAuthentications = jwtauth.Select(t.Snapshot.RequestAuthentications, w, config.RootNamespace)
	t.Snapshot.PoliciesSelected = true
	return t, nil
}

func decode(name string, data []byte) ([]doc, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []doc
	for i := 1; ; i++ {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("gateway: %s: document %d: %w", name, i, err)
		}
		if len(m) == 0 {
			continue
		}
		d := doc{raw: m}
		d.APIVersion, _ = m["apiVersion"].(string)
		d.Kind, _ = m["kind"].(string)
		d.Metadata, _ = m["metadata"].(map[string]any)
		d.Spec, _ = m["spec"].(map[string]any)
		out = append(out, d)
	}
}

func writeDoc(w *bytes.Buffer, v any) error {
	data, err := sigsyaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("gateway: encode config: %w", err)
	}
	w.WriteString("---\n")
	w.Write(data)
	return nil
}

func isIstio(d doc, kind string) bool {
	return d.Kind == kind && strings.HasPrefix(d.APIVersion, "networking.istio.io/")
}

// selects reports whether a Gateway's selector matches every one of its labels in labels.
func selects(selector any, labels map[string]string) bool {
	sel, _ := selector.(map[string]any)
	for k, v := range sel {
		if s, _ := v.(string); labels[k] != s {
			return false
		}
	}
	return true
}

// serverPorts lists a Gateway's HTTP server ports; HTTPS/TLS servers are refused by name.
func serverPorts(d doc) ([]uint16, error) {
	servers, _ := d.Spec["servers"].([]any)
	var out []uint16
	for i, raw := range servers {
		s, _ := raw.(map[string]any)
		port, _ := s["port"].(map[string]any)
		var n float64
		switch v := port["number"].(type) {
		case float64:
			n = v
		case int64:
			n = float64(v)
		}
		proto, _ := port["protocol"].(string)
		if n <= 0 || n > 65535 {
			return nil, fmt.Errorf("gateway: Gateway %s/%s: spec.servers[%d].port.number: want 1-65535", d.namespace(), d.name(), i)
		}
		if p := strings.ToUpper(proto); p != "HTTP" && p != "HTTP2" {
			return nil, fmt.Errorf("gateway: Gateway %s/%s: spec.servers[%d]: protocol %q is not supported (HTTP only)", d.namespace(), d.name(), i, proto)
		}
		out = append(out, uint16(n))
	}
	return out, nil
}

// bound reports whether VirtualService d names one of s's Gateways in spec.gateways (short
// names are in the VirtualService's namespace, as Istio resolves them).
func bound(d doc, s *Server) bool {
	gws, _ := d.Spec["gateways"].([]any)
	for _, g := range gws {
		name, _ := g.(string)
		if !strings.Contains(name, "/") {
			name = d.namespace() + "/" + name
		}
		if slices.Contains(s.Gateways, name) {
			return true
		}
	}
	return false
}

// qualified returns d's HTTP routes with destination hosts made fully qualified, so they mean
// the same in the synthetic service's namespace as in d's.
func qualified(d doc) ([]any, error) {
	routes, _ := d.Spec["http"].([]any)
	out := make([]any, 0, len(routes))
	for i, raw := range routes {
		r, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("gateway: VirtualService %s/%s: spec.http[%d]: not an object", d.namespace(), d.name(), i)
		}
		dests, _ := r["route"].([]any)
		for _, rd := range dests {
			dd, _ := rd.(map[string]any)
			dest, _ := dd["destination"].(map[string]any)
			if h, _ := dest["host"].(string); h != "" && !strings.Contains(h, ".") {
				dest["host"] = h + "." + d.namespace() + "." + config.ClusterDomain
			}
		}
		out = append(out, r)
	}
	return out, nil
}
