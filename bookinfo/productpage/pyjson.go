package productpage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// pythonJSON re-encodes a JSON document the way productpage's simplejson.dumps writes it after
// parsing a backend reply: ", " and ": " separators, key order kept, non-ASCII as \uXXXX
// escapes, and no HTML escaping. Clients that compare bytes with upstream see the same text.
func pythonJSON(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out bytes.Buffer
	type container struct {
		object bool
		items  int // tokens written inside: keys and values for objects
	}
	var stack []container
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if len(stack) > 0 || out.Len() == 0 {
				return nil, fmt.Errorf("re-encode JSON: %w", io.ErrUnexpectedEOF)
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("re-encode JSON: %w", err)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			out.WriteByte(byte(d))
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				break
			}
			continue
		}
		if n := len(stack); n > 0 {
			top := &stack[n-1]
			switch {
			case top.object && top.items%2 == 1:
				out.WriteString(": ")
			case top.items > 0:
				out.WriteString(", ")
			}
			top.items++
		}
		switch v := tok.(type) {
		case json.Delim:
			out.WriteByte(byte(v))
			stack = append(stack, container{object: v == '{'})
		case string:
			writePythonString(&out, v)
		case json.Number:
			out.WriteString(v.String())
		case bool:
			fmt.Fprint(&out, v)
		case nil:
			out.WriteString("null")
		}
		if len(stack) == 0 { // a scalar document
			break
		}
	}
	return out.Bytes(), nil
}

// writePythonString writes s as json.dumps does with ensure_ascii=True.
func writePythonString(out *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	u4 := func(r rune) {
		out.WriteString(`\u`)
		for shift := 12; shift >= 0; shift -= 4 {
			out.WriteByte(hex[(r>>shift)&0xf])
		}
	}
	out.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			out.WriteString(`\"`)
		case r == '\\':
			out.WriteString(`\\`)
		case r == '\n':
			out.WriteString(`\n`)
		case r == '\r':
			out.WriteString(`\r`)
		case r == '\t':
			out.WriteString(`\t`)
		case r == '\b':
			out.WriteString(`\b`)
		case r == '\f':
			out.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			if r == 0x7f {
				out.WriteRune(r) // DEL is ASCII: Python leaves it alone
				continue
			}
			u4(r)
		case r >= 0x10000:
			r1, r2 := utf16Surrogates(r)
			u4(r1)
			u4(r2)
		default:
			out.WriteRune(r)
		}
	}
	out.WriteByte('"')
}

func utf16Surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

// marshalPython encodes a Go value and re-encodes it in Python's style.
func marshalPython(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return pythonJSON(buf.Bytes())
}
