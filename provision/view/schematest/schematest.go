// Package schematest checks JSON-lines event output against docs/events.schema.json in tests.
package schematest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaPath finds docs/events.schema.json by walking up from the working directory to go.mod.
func SchemaPath(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "docs", "events.schema.json")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("schematest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Compile loads and compiles the events schema.
func Compile(t testing.TB) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(SchemaPath(t))
	if err != nil {
		t.Fatalf("compile events schema: %v", err)
	}
	return s
}

// ValidateLines checks that out holds at least one line and that every line is exactly one JSON
// value valid against the schema. It returns the number of lines.
func ValidateLines(t testing.TB, out []byte) int {
	t.Helper()
	s := Compile(t)
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("no output lines")
	}
	for i, l := range lines {
		dec := json.NewDecoder(strings.NewReader(l))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, l)
		}
		if dec.More() {
			t.Fatalf("line %d holds more than one JSON value:\n%s", i+1, l)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(l)))
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if err := s.Validate(inst); err != nil {
			t.Fatalf("line %d does not match docs/events.schema.json: %v\n%s", i+1, err, l)
		}
	}
	return len(lines)
}
