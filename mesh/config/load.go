package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// MeshlabAPIVersion is the apiVersion of meshlab's own documents (kind Proxy and kind Registry).
const MeshlabAPIVersion = "meshlab.io/v1alpha1"

// maxFileSize bounds what Load reads: routing files are small, and a proxy must not be made to
// allocate without bound by a mistaken path.
const maxFileSize = 8 << 20

// DocError says which document of which file is wrong, and why. Line is the document's first line.
type DocError struct {
	File string
	Line int
	Doc  string // "VirtualService default/reviews", or "document 3" before the kind is known
	Err  error
}

func (e *DocError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Doc, e.Err)
}

func (e *DocError) Unwrap() error { return e.Err }

// Load reads the files in order and merges them into one Snapshot. A later resource with the same
// kind, namespace and name replaces an earlier one, as `kubectl apply` of the files in that order
// would. All problems are returned at once, joined.
func Load(paths ...string) (*Snapshot, error) {
	var b builder
	var errs []error
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: %w", err))
			continue
		}
		data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("config: read %s: %w", p, err))
			continue
		}
		if len(data) > maxFileSize {
			errs = append(errs, fmt.Errorf("config: %s: larger than %d bytes", p, maxFileSize))
			continue
		}
		errs = append(errs, b.addFile(p, data)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return b.finish()
}

// Parse is Load for one in-memory file; name is used in error messages.
func Parse(name string, data []byte) (*Snapshot, error) {
	var b builder
	if errs := b.addFile(name, data); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return b.finish()
}

// envelope is the part every Kubernetes-style document shares.
type envelope struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   json.RawMessage `json:"metadata"`
	Spec       json.RawMessage `json:"spec"`
	Status     json.RawMessage `json:"status"`
	// A Secret's fields (credentials for DestinationRules' credentialName); any other kind with
	// them is refused as before.
	Type       json.RawMessage `json:"type"`
	Data       json.RawMessage `json:"data"`
	StringData json.RawMessage `json:"stringData"`
}

// addFile splits data into YAML documents and adds each; it returns every document's error.
func (b *builder) addFile(file string, data []byte) []error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var errs []error
	for n := 1; ; n++ {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			return errs
		}
		if err != nil {
			// The YAML stream is broken; later documents cannot be located reliably.
			return append(errs, &DocError{File: file, Line: 0, Doc: fmt.Sprintf("document %d", n), Err: err})
		}
		if len(node.Content) == 0 || node.Content[0].Kind == yaml.ScalarNode && node.Content[0].Tag == "!!null" {
			continue // an empty document, e.g. after a trailing "---"
		}
		loc := docLoc{file: file, line: node.Line, doc: fmt.Sprintf("document %d", n)}
		if err := b.addNode(&loc, &node); err != nil {
			errs = append(errs, &DocError{File: file, Line: loc.line, Doc: loc.doc, Err: err})
		}
	}
}

// docLoc locates a document for messages; doc is refined once kind and name are known.
type docLoc struct {
	file string
	line int
	doc  string
}

func (b *builder) addNode(loc *docLoc, node *yaml.Node) error {
	var v any
	if err := node.Decode(&v); err != nil {
		return err
	}
	v = stringKeys(v)
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("a document must be a mapping with apiVersion and kind, not %T", v)
	}
	normalizeDurations(v)
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("convert YAML to JSON: %w", err)
	}
	var env envelope
	if err := strictJSON(raw, &env); err != nil {
		return fmt.Errorf("top level: %w", err)
	}
	if env.Kind == "" || env.APIVersion == "" {
		return errors.New("apiVersion and kind are required")
	}
	if !(env.APIVersion == "v1" && env.Kind == "Secret") {
		for name, f := range map[string]json.RawMessage{"type": env.Type, "data": env.Data, "stringData": env.StringData} {
			if len(f) > 0 && !(name == "data" && env.APIVersion == "v1" && env.Kind == "ConfigMap") {
				return fmt.Errorf("top level: json: unknown field %q", name)
			}
		}
	}
	meta, err := decodeMeta(env.Metadata)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	loc.doc = env.Kind
	if meta.Name != "" {
		loc.doc = env.Kind + " " + meta.Name
	}
	group, _, _ := strings.Cut(env.APIVersion, "/")
	switch {
	case group == "networking.istio.io" && env.Kind == "VirtualService":
		return b.addVirtualService(env.APIVersion, meta, env.Spec)
	case group == "networking.istio.io" && env.Kind == "DestinationRule":
		return b.addDestinationRule(env.APIVersion, meta, env.Spec)
	case group == "security.istio.io" && env.Kind == "PeerAuthentication":
		return b.addPeerAuthentication(env.APIVersion, meta, env.Spec)
	case group == "config.istio.io" && env.Kind == "RouteRule":
		return b.addRouteRule(env.APIVersion, meta, env.Spec)
	case group == "security.istio.io" && env.Kind == "AuthorizationPolicy":
		return b.addAuthorizationPolicy(env.APIVersion, meta, env.Spec)
	case group == "security.istio.io" && env.Kind == "RequestAuthentication":
		return b.addRequestAuthentication(env.APIVersion, meta, env.Spec)
	case group == "networking.istio.io" && env.Kind == "Gateway":
		return nil // gateways configure ingress proxies, not sidecars
	case env.APIVersion == MeshlabAPIVersion && env.Kind == "Proxy":
		return b.addProxy(env.Spec)
	case env.APIVersion == MeshlabAPIVersion && env.Kind == "Registry":
		return b.addRegistry(env.Spec)
	case env.APIVersion == "v1" && env.Kind == "Secret":
		return b.addSecret(meta, raw)
	case isKubernetesWorkloadKind(env.APIVersion, env.Kind):
		// Kubernetes objects (bookinfo.yaml) may share a file with routing; the registry
		// document, not these, says where endpoints are.
		return nil
	}
	return fmt.Errorf("unsupported document %s %s (want networking.istio.io VirtualService or DestinationRule, security.istio.io PeerAuthentication, AuthorizationPolicy or RequestAuthentication, config.istio.io/v1alpha2 RouteRule, or %s Proxy or Registry)",
		env.APIVersion, env.Kind, MeshlabAPIVersion)
}

// stringKeys turns mappings with non-string keys into string-keyed ones, as JSON needs:
// PeerAuthentication's portLevelMtls is keyed by port numbers, which YAML reads as integers.
func stringKeys(v any) any {
	switch t := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = stringKeys(x)
		}
		return m
	case map[string]any:
		for k, x := range t {
			t[k] = stringKeys(x)
		}
	case []any:
		for i, x := range t {
			t[i] = stringKeys(x)
		}
	}
	return v
}

func isKubernetesWorkloadKind(apiVersion, kind string) bool {
	switch apiVersion + " " + kind {
	case "v1 Service", "v1 ServiceAccount", "v1 ConfigMap", "apps/v1 Deployment":
		return true
	}
	return false
}

// strictJSON decodes data into v, rejecting fields v does not have.
func strictJSON(data []byte, v any) error {
	if len(data) == 0 {
		data = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
