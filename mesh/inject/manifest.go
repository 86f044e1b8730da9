package inject

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// templatePaths says where each workload kind keeps its pod template ("" is the pod itself).
var templatePaths = map[string]string{
	"Pod":                   "",
	"Deployment":            "/spec/template",
	"StatefulSet":           "/spec/template",
	"DaemonSet":             "/spec/template",
	"ReplicaSet":            "/spec/template",
	"ReplicationController": "/spec/template",
	"Job":                   "/spec/template",
	"CronJob":               "/spec/jobTemplate/spec/template",
}

// Outcome reports what happened to one workload in a manifest.
type Outcome struct {
	Line int    // line of the document's first line in the input (1-based)
	Kind string // workload kind; for List items, the item's kind
	Name string
	Skip string // "" when injected
}

func (o Outcome) String() string {
	if o.Skip == "" {
		return fmt.Sprintf("line %d: %s %s: injected", o.Line, o.Kind, o.Name)
	}
	return fmt.Sprintf("line %d: %s %s: skipped: %s", o.Line, o.Kind, o.Name, o.Skip)
}

// separator is a YAML document separator line, optionally followed by a comment.
var separator = regexp.MustCompile(`^---\s*(#.*)?$`)

// Manifest injects every pod template in a multi-document YAML stream (Kinds in templatePaths,
// and the items of a `kind: List`). Other documents, and workloads that are skipped, are
// copied byte for byte, in order; injected documents are re-encoded (keys sorted), keeping the
// comment lines that led them. name prefixes error messages (a file name, or "-" for stdin).
func Manifest(name string, in []byte, o Options) ([]byte, []Outcome, error) {
	var out bytes.Buffer
	var outcomes []Outcome
	for _, d := range splitDocuments(in) {
		out.WriteString(d.sep)
		body, got, err := injectDocument(d.body, d.line, o)
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", name, d.line, err)
		}
		outcomes = append(outcomes, got...)
		out.Write(body)
	}
	return out.Bytes(), outcomes, nil
}

type document struct {
	sep  string // the separator line before the body, with its newline ("" for the first)
	body []byte
	line int // 1-based line of the body's first line
}

func splitDocuments(in []byte) []document {
	var docs []document
	cur := document{line: 1}
	lineNo := 0
	for len(in) > 0 {
		lineNo++
		i := bytes.IndexByte(in, '\n')
		line := in
		if i >= 0 {
			line = in[:i+1]
		}
		in = in[len(line):]
		if separator.Match(bytes.TrimRight(line, "\r\n")) {
			docs = append(docs, cur)
			cur = document{sep: string(line), line: lineNo + 1}
			continue
		}
		cur.body = append(cur.body, line...)
	}
	return append(docs, cur)
}

// header is the part of any object the injector needs to route it.
type header struct {
	Kind     string                `json:"kind"`
	Metadata struct{ Name string } `json:"metadata"`
	Items    []json.RawMessage     `json:"items"`
}

// injectDocument returns the document unchanged when nothing in it was injected.
func injectDocument(body []byte, line int, o Options) ([]byte, []Outcome, error) {
	js, err := yaml.YAMLToJSON(body)
	if err != nil {
		return nil, nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return body, nil, nil // empty or comment-only document
	}
	var h header
	if err := json.Unmarshal(js, &h); err != nil {
		return body, nil, nil // not an object (a scalar or a list): not ours to touch
	}
	patch, outcomes, err := objectPatch(js, h, line, o)
	if err != nil {
		return nil, nil, err
	}
	if len(patch) == 0 {
		return body, outcomes, nil
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding patch: %w", err)
	}
	jp, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding patch: %w", err)
	}
	patched, err := jp.Apply(js)
	if err != nil {
		return nil, nil, fmt.Errorf("applying patch: %w", err)
	}
	y, err := yaml.JSONToYAML(patched)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding YAML: %w", err)
	}
	return append(leadingComments(body), y...), outcomes, nil
}

// objectPatch returns the patch for one object, which may be a List of objects.
func objectPatch(js []byte, h header, line int, o Options) (Patch, []Outcome, error) {
	if h.Kind == "List" || (strings.HasSuffix(h.Kind, "List") && h.Items != nil) {
		var all Patch
		var outcomes []Outcome
		for i, item := range h.Items {
			var ih header
			if err := json.Unmarshal(item, &ih); err != nil {
				continue
			}
			p, got, err := objectPatch(item, ih, line, o)
			if err != nil {
				return nil, nil, fmt.Errorf("items[%d]: %w", i, err)
			}
			all = append(all, p.Under(fmt.Sprintf("/items/%d", i))...)
			outcomes = append(outcomes, got...)
		}
		return all, outcomes, nil
	}
	at, ok := templatePaths[h.Kind]
	if !ok {
		return nil, nil, nil
	}
	tmpl, found, err := pointer(js, at)
	if err != nil || !found {
		return nil, nil, fmt.Errorf("%s %s: no pod template at %s", h.Kind, h.Metadata.Name, at)
	}
	var pt corev1.PodTemplateSpec
	if err := json.Unmarshal(tmpl, &pt); err != nil {
		return nil, nil, fmt.Errorf("%s %s: pod template: %w", h.Kind, h.Metadata.Name, err)
	}
	res, err := Pod(pt.ObjectMeta, pt.Spec, o)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", h.Kind, h.Metadata.Name, err)
	}
	out := []Outcome{{Line: line, Kind: h.Kind, Name: h.Metadata.Name, Skip: res.Skip}}
	if !res.Injected() {
		return nil, out, nil
	}
	var p Patch
	// A template without metadata or spec: give the additions somewhere to go ("add" needs
	// the parent to exist).
	for _, part := range []string{"/metadata", "/spec"} {
		if _, has, _ := pointer(tmpl, part); !has {
			p = append(p, Op{Op: "add", Path: part, Value: map[string]any{}})
		}
	}
	return append(p, res.Patch...).Under(at), out, nil
}

// pointer returns the JSON value at a simple pointer of object keys ("" is the whole value).
func pointer(js []byte, ptr string) (json.RawMessage, bool, error) {
	cur := json.RawMessage(js)
	if ptr == "" {
		return cur, true, nil
	}
	for _, key := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cur, &obj); err != nil {
			return nil, false, fmt.Errorf("at %q: not an object", key)
		}
		next, ok := obj[key]
		if !ok || string(next) == "null" {
			return nil, false, nil
		}
		cur = next
	}
	return cur, true, nil
}

// leadingComments returns the comment and blank lines before a document's first content line.
func leadingComments(body []byte) []byte {
	var keep []byte
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\n')
		line := body
		if i >= 0 {
			line = body[:i+1]
		}
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			break
		}
		keep = append(keep, line...)
		body = body[len(line):]
	}
	return keep
}
