#!/usr/bin/env bash
# Builds the third-party programs that meshlab's integration tests run as real peers, from the
# versions pinned in this module's go.mod, into a cache directory keyed by version, and fetches
# Debian's docker-registry binary beside them:
#
#   ${MESHLAB_CACHE:-/var/cache/meshlab}/testpeers/<jaeger version>/jaeger-all-in-one
#   ${MESHLAB_CACHE:-/var/cache/meshlab}/testpeers/docker-registry-<deb version>/docker-registry
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

# Debian's docker-registry (distribution's registry 2.8.2): the local stand-in for the image
# registries in the mirrors end-to-end test (cluster/standin). Only its binary, taken from the
# .deb: installing the package would start a registry on every interface and add a system user.
# The version is cluster/standin's RegistryPackage.
registry_pkg="docker-registry=2.8.2+ds1-1"
registry_dir="${out%/*}/docker-registry-${registry_pkg#*=}"
if [[ ! -x "$registry_dir/docker-registry" ]]; then
  echo "testpeers: fetching ${registry_pkg} (apt-get download) into ${registry_dir}" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -q "$registry_pkg" >&2)
  dpkg-deb -x "$tmp"/docker-registry_*.deb "$tmp/root"
  mkdir -p "$registry_dir"
  install -m 0755 "$tmp/root/usr/bin/docker-registry" "$registry_dir/docker-registry.tmp"
  mv "$registry_dir/docker-registry.tmp" "$registry_dir/docker-registry"
fi
echo "$bin"
