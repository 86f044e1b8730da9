package transport

import (
	"io"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"
)

var nastyStrings = []string{
	"",
	"plain",
	"it's",
	"'",
	"''",
	`"double"`,
	`back\slash\`,
	"$HOME $(id -u) `id -u` ${PATH}",
	"; rm -rf /tmp/should-not-exist-meshlab; echo",
	"line1\nline2\n",
	"tab\there",
	"-n",
	"--",
	"*?[a-z]~",
	"a'b'c'\\''",
	"unicode ✓ λ 漢字",
	"&& || | > < >> 2>&1 &",
	"\x01\x7f",
}

// quoteRoundTrip asks a real shell to print the quoted word back.
func quoteRoundTrip(t testing.TB, s string) string {
	out, err := exec.Command("/bin/sh", "-c", "printf %s "+Quote(s)).Output()
	if err != nil {
		t.Fatalf("sh rejected Quote(%q) = %s: %v", s, Quote(s), err)
	}
	return string(out)
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range nastyStrings {
		if got := quoteRoundTrip(t, s); got != s {
			t.Errorf("Quote(%q) = %s; shell printed %q", s, Quote(s), got)
		}
	}
}

// Nested: the sudo wrapper puts a quoted command inside another sh -c.
func TestShellCNested(t *testing.T) {
	for _, s := range nastyStrings {
		line := ShellC("printf %s " + Quote(s))
		out, err := exec.Command("/bin/sh", "-c", ShellC(line)).Output()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if string(out) != s {
			t.Errorf("nested quote of %q printed %q", s, out)
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range nastyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			t.Skip("argv cannot carry NUL; shells differ on invalid UTF-8")
		}
		if got := quoteRoundTrip(t, s); got != s {
			t.Errorf("Quote(%q) = %s; shell printed %q", s, Quote(s), got)
		}
	})
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		secrets  []string
		want     string
	}{
		{"none", "hello", nil, "hello"},
		{"empty secret ignored", "hello", []string{""}, "hello"},
		{"every occurrence", "pw pw", []string{"pw"}, "[REDACTED] [REDACTED]"},
		{"longer first", "secret-long", []string{"secret", "secret-long"}, "[REDACTED]"},
		{"two", "a=x1 b=y2", []string{"x1", "y2"}, "a=[REDACTED] b=[REDACTED]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Redact(tc.in, tc.secrets...); got != tc.want {
				t.Errorf("Redact(%q, %q) = %q, want %q", tc.in, tc.secrets, got, tc.want)
			}
		})
	}
}

func TestBecomerWrapKeepsPasswordOutOfLine(t *testing.T) {
	const pw = "p4ss'word"
	line, stdin := becomer{method: becomeSudoPassword, password: pw}.wrap("id -u", strings.NewReader("data"))
	if strings.Contains(line, pw) {
		t.Fatalf("password in command line: %s", line)
	}
	b, err := io.ReadAll(stdin)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != pw+"\ndata" {
		t.Fatalf("stdin = %q, want password line then data", b)
	}
	if want := "sudo -k -S -p '' -- " + ShellC(announceGroup+"id -u"); line != want {
		t.Fatalf("line = %s, want %s", line, want)
	}
}
