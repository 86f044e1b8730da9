//go:build tools

// Package testpeers records the binaries this module builds (see build.sh).
package testpeers

import (
	_ "github.com/jaegertracing/jaeger/cmd/all-in-one"
)
