#!/usr/bin/env bash
# Builds the third-party programs that meshlab's integration tests run as real peers, from the
# versions pinned in this module's go.mod, into a cache directory keyed by version:
#
#   ${MESHLAB_CACHE:-/var/cache/meshlab}/testpeers/<jaeger version>/jaeger-all-in-one
#
# A binary already in the cache is kept (delete the directory to rebuild). The tests look for it
# at the same path and skip with this script's name when it is missing. Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")"

export PATH=/usr/local/go/bin:$PATH
version=$(go list -m -f '{{.Version}}' github.com/jaegertracing/jaeger)
out="${MESHLAB_CACHE:-/var/cache/meshlab}/testpeers/${version}"
bin="${out}/jaeger-all-in-one"

if [[ ! -x "$bin" ]]; then
  mkdir -p "$out"
  echo "testpeers: building Jaeger all-in-one ${version} into ${out}" >&2
  # Build to a temporary name and rename, so an interrupted build never leaves a broken binary
  # where the tests would find it.
  CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "${bin}.tmp" github.com/jaegertracing/jaeger/cmd/all-in-one
  mv "${bin}.tmp" "$bin"
fi
echo "$bin"
