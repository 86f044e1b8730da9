package inventory

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// IsSet reports whether the reference names a source.
func (s SecretRef) IsSet() bool { return s.Env != "" || s.File != "" }

// String describes where the secret comes from, never the secret itself, so it is safe in logs.
func (s SecretRef) String() string {
	switch {
	case s.Env != "":
		return "env " + s.Env
	case s.File != "":
		return "file " + s.File
	}
	return "unset"
}

// Resolve reads the secret. A file's single trailing newline is dropped (editors add one); an
// unset reference, an unset or empty variable and an unreadable or empty file are errors that say
// which source was tried but never what it held.
func (s SecretRef) Resolve() (string, error) {
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("secret from environment variable %s: not set", s.Env)
		}
		if v == "" {
			return "", fmt.Errorf("secret from environment variable %s: empty", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("secret from file: %w", err)
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if v == "" {
			return "", fmt.Errorf("secret from file %s: empty", s.File)
		}
		return v, nil
	}
	return "", errors.New("secret: no source set (use env: NAME or file: PATH)")
}
