package transport

import (
	"strings"
	"testing"
)

func TestLineWriterSplitsAcrossWrites(t *testing.T) {
	var lines []string
	w := newLineWriter(func(l string) { lines = append(lines, l) }, noRedact)
	for _, chunk := range []string{"a", "b\nc", "d\r\n\n", "e"} {
		w.Write([]byte(chunk))
	}
	w.flush()
	want := []string{"ab", "cd", "", "e"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("lines = %q, want %q", lines, want)
	}
	if got := w.String(); got != "ab\ncd\r\n\ne" {
		t.Fatalf("kept = %q", got)
	}
}

func TestLineWriterBoundsOutput(t *testing.T) {
	w := newLineWriter(nil, noRedact)
	w.maxBytes = 10
	for i := 0; i < 100; i++ {
		w.Write([]byte("0123456789"))
	}
	w.Write([]byte("END"))
	got := w.String()
	if !strings.HasSuffix(got, "3456789END") || !strings.HasPrefix(got, "[... 993 bytes dropped ...]\n") {
		t.Fatalf("bounded output = %q", got)
	}
}

func TestLineWriterRedacts(t *testing.T) {
	var lines []string
	w := newLineWriter(func(l string) { lines = append(lines, l) }, func(s string) string { return Redact(s, "pw") })
	w.Write([]byte("the pw is\n"))
	if lines[0] != "the [REDACTED] is" || strings.Contains(w.String(), "pw") {
		t.Fatalf("not redacted: %q %q", lines, w.String())
	}
}
