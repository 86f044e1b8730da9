package inventory

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits that keep hostile or broken files (alias bombs, self-referencing anchors) from making
// the parser loop or allocate without bound. A real hosts file is far below both.
const (
	maxAliasDepth = 32
	maxNodeVisits = 200_000
)

// decoder walks a parsed YAML tree, turning it into a Lab while collecting every problem with
// its position. It never stops at the first problem: a bad field is reported and treated as
// unset, and the walk goes on.
type decoder struct {
	file     string
	dir      string // folder of the hosts file, for relative paths
	problems []Problem
	// pos maps a field path ("hosts[1].port") to the YAML node that set it, so later checks can
	// point at the right line; a path absent from pos was not set in the file.
	pos    map[string]*yaml.Node
	visits int
	// brokenHosts marks host entries too broken to check (by index), so later checks neither
	// repeat their problem nor claim "no control-plane" when it may be among them.
	brokenHosts map[int]bool
	root        *yaml.Node // the document's top node, for file-level problems
}

// pair is one key/value of a mapping, with aliases and merge keys already resolved.
type pair struct {
	key   string
	kNode *yaml.Node
	value *yaml.Node
}

func (d *decoder) problem(n *yaml.Node, field, msg, hint string) {
	p := Problem{File: d.file, Field: field, Message: msg, Hint: hint}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.problems = append(d.problems, p)
}

// at returns the node that set path, else the node of the closest parent path that was set, else
// the document root, so every problem gets a position.
func (d *decoder) at(path string) *yaml.Node {
	for p := path; p != ""; p = parentPath(p) {
		if n, ok := d.pos[p]; ok {
			return n
		}
	}
	return d.root
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// resolve follows aliases to the node they name. It returns nil for a chain that is too deep or
// for a walk that has used up its budget; both are reported once.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i >= maxAliasDepth || n.Alias == nil {
			d.problem(n, "", "alias nests too deeply or refers to itself", "use plain values instead of anchors here")
			return nil
		}
		n = n.Alias
	}
	d.visits++
	if d.visits == maxNodeVisits {
		d.problem(n, "", "the file expands to too many values through aliases", "a hosts file needs no more than a few thousand values")
	}
	if d.visits >= maxNodeVisits {
		return nil
	}
	return n
}

// mapping returns the pairs of a mapping node at path, reporting a non-mapping value. Merge keys
// (<<: *defaults) are expanded, explicit keys winning, and duplicate keys are reported.
func (d *decoder) mapping(n *yaml.Node, path, what string) ([]pair, bool) {
	n = d.resolve(n)
	if n == nil {
		return nil, false
	}
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		d.problem(n, path, "must be a mapping of "+what+", not "+describe(n), "write key: value lines indented under it")
		return nil, false
	}
	return d.pairs(n, path, 0), true
}

func (d *decoder) pairs(n *yaml.Node, path string, depth int) []pair {
	var merged, own []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.problem(k, path, "a key must be a plain name, not "+describe(k), "")
			continue
		}
		if k.Value == "<<" && k.Tag == "!!merge" {
			merged = append(merged, d.mergePairs(v, path, depth)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.problem(k, join(path, k.Value), fmt.Sprintf("is set twice (first at line %d)", first.Line), "keep one of them")
			continue
		}
		seen[k.Value] = k
		own = append(own, pair{key: k.Value, kNode: k, value: v})
	}
	out := own
	for _, p := range merged {
		if _, overridden := seen[p.key]; !overridden {
			seen[p.key] = p.kNode
			out = append(out, p)
		}
	}
	return out
}

func (d *decoder) mergePairs(v *yaml.Node, path string, depth int) []pair {
	v = d.resolve(v)
	if v == nil || depth > maxAliasDepth {
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, path, depth+1)
	case yaml.SequenceNode:
		var out []pair
		for _, m := range v.Content {
			out = append(out, d.mergePairs(m, path, depth+1)...)
		}
		return out
	}
	d.problem(v, path, "<< must merge a mapping, not "+describe(v), "")
	return nil
}

// sequence returns the items of a sequence node; a null value is an empty list.
func (d *decoder) sequence(n *yaml.Node, path, what string) ([]*yaml.Node, bool) {
	n = d.resolve(n)
	if n == nil {
		return nil, false
	}
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.problem(n, path, "must be a list of "+what+", not "+describe(n), "write one \"- item\" per line")
		return nil, false
	}
	return n.Content, true
}

// str decodes a scalar as text. Numbers and booleans are accepted as their text (a user who
// writes tag: 1.20 means "1.20"), except where stricter helpers are used.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	n = d.resolve(n)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.problem(n, path, "must be a single value, not "+describe(n), "")
		return "", false
	}
	if isNull(n) {
		return "", false
	}
	d.pos[path] = n
	return n.Value, true
}

// integer decodes a whole number; quoted digits ("22") are accepted as well.
func (d *decoder) integer(n *yaml.Node, path, hint string) (int, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
	if err != nil || v < -1<<31 || v > 1<<31-1 {
		d.problem(d.pos[path], path, fmt.Sprintf("%q is not a whole number", s), hint)
		delete(d.pos, path)
		return 0, false
	}
	return int(v), true
}

// boolean decodes true/false; yes/no/on/off are accepted because YAML 1.1 users write them.
func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return false, false
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	d.problem(d.pos[path], path, fmt.Sprintf("%q is not true or false", s), "write true or false")
	delete(d.pos, path)
	return false, false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names a node's kind for messages ("a list", "the text \"x\"").
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "an empty value"
		}
		return fmt.Sprintf("the value %q", truncate(n.Value, 40))
	}
	return "this kind of value"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
