#!/bin/sh
# Build meshlab's offline bundle from pinned source (what `make bundle` runs).
#
#   tools/k8sbuild/build.sh [OUT_DIR]      default OUT_DIR: _output/bundle
#
# Needs: Go (the version in go.mod), the Go module proxy, apt-get with Debian 12's archive
# (apt-get download fetches the runtime .debs; dpkg-deb unpacks the kube-proxy/flannel base), and
# npm with the npm registry (Prometheus's web UI; a Node.js too old for the UI's lockfile is
# replaced by the version the UI's .nvmrc names, installed from the registry).
# Outputs are cached by version under $MESHLAB_CACHE/bundle (default /var/cache/meshlab/bundle):
# the first run compiles Kubernetes and friends (tens of minutes on 2 cores), later runs only
# verify the cached bundle and copy it to OUT_DIR.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-"$root/_output/bundle"}
cd "$root"
exec go run ./cmd/meshlab cluster bundle build --from-source --source-dir "$here" --out "$out"
