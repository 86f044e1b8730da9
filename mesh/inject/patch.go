package inject

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Op is one RFC 6902 JSON patch operation. The injector only ever adds.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Patch is a JSON patch relative to a pod: paths start with /metadata or /spec.
type Patch []Op

// JSON is the patch as the AdmissionReview response carries it.
func (p Patch) JSON() ([]byte, error) {
	if len(p) == 0 {
		return []byte("[]"), nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding JSON patch: %w", err)
	}
	return b, nil
}

// Under returns the patch re-rooted at prefix (a JSON pointer such as /spec/template), for pod
// templates nested inside workloads.
func (p Patch) Under(prefix string) Patch {
	out := make(Patch, len(p))
	for i, op := range p {
		op.Path = prefix + op.Path
		out[i] = op
	}
	return out
}

// escape makes a map key or field name safe inside a JSON pointer (RFC 6901).
func escape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// addKeys adds entries to the string map at path. A missing map is added whole: "add" on a
// member of an absent object would fail.
func addKeys(path string, existing map[string]string, add map[string]string) Patch {
	if len(add) == 0 {
		return nil
	}
	if existing == nil {
		return Patch{{Op: "add", Path: path, Value: add}}
	}
	var p Patch
	for _, k := range sortedKeys(add) {
		p = append(p, Op{Op: "add", Path: path + "/" + escape(k), Value: add[k]})
	}
	return p
}

// insertAt inserts items at index at of the list at path (at < 0 appends), creating the list
// when it is absent (exists == false).
func insertAt[T any](path string, exists bool, at int, items ...T) Patch {
	if len(items) == 0 {
		return nil
	}
	if !exists {
		return Patch{{Op: "add", Path: path, Value: items}}
	}
	var p Patch
	for i, it := range items {
		idx := "-"
		if at >= 0 {
			idx = fmt.Sprint(at + i)
		}
		p = append(p, Op{Op: "add", Path: path + "/" + idx, Value: it})
	}
	return p
}

// sortedKeys returns m's keys in order (stable output for logs and status).
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
