package transport

import (
	"errors"
	"sort"
	"strings"
)

// Quote returns s as one POSIX shell word: wrapped in single quotes, with each embedded single
// quote written as '\”. Inside single quotes the shell interprets nothing, so this is the
// only quoting that is safe for any text ($, `, \, newlines, globs, leading dashes...).
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ShellC is the argv-free form of `sh -c '<command>'`, for nesting one shell in another.
func ShellC(command string) string {
	return "sh -c " + Quote(command)
}

// errNUL: a command or path with a NUL byte cannot reach a process: argv strings end at NUL.
var errNUL = errors.New("contains a NUL byte")

func checkNUL(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return &nulError{what: what}
	}
	return nil
}

type nulError struct{ what string }

func (e *nulError) Error() string { return e.what + " " + errNUL.Error() }
func (e *nulError) Unwrap() error { return errNUL }

// Redact replaces every occurrence of each non-empty secret in s with "[REDACTED]". Longer
// secrets go first so a secret that contains another is hidden whole.
func Redact(s string, secrets ...string) string {
	sorted := make([]string, 0, len(secrets))
	for _, sec := range secrets {
		if sec != "" {
			sorted = append(sorted, sec)
		}
	}
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, sec := range sorted {
		s = strings.ReplaceAll(s, sec, "[REDACTED]")
	}
	return s
}
