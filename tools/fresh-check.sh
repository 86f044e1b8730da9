#!/usr/bin/env bash
# Rehearses the README on a fresh machine: what `make fresh` runs (root; ~25 min on 2 cores).
#
#   tools/fresh-check.sh            the README's main command: make up to a verified lab, then make down
#   tools/fresh-check.sh test       the README's test command instead (.ci/run's `make test`), cold
#
# A fresh machine has empty Go module and build caches, no meshlab cache and no lab state; CI's
# caches are warm, so a bug that only a cold cache shows (the flannel manifest read from a module
# that was not downloaded yet) passes CI and fails a new user. This script gives every cache a new
# empty home (HOME, GOMODCACHE, GOCACHE, GOPATH, MESHLAB_CACHE, npm's cache) and a lab name of its
# own, checks the Debian packages, runs the make targets a new user runs, prints how long each
# stage took as a table, and removes everything it made, keeping only its log.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$(pwd)
export PATH=/usr/local/go/bin:$PATH

mode=${1:-up}
case "$mode" in
  up | test) ;;
  *) echo "usage: $0 [up|test]" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "fresh-check: run as root (sudo make fresh): the local lab needs runc and network namespaces" >&2
  exit 1
fi

stamp=$(date +%Y%m%d-%H%M%S)
mkdir -p _output
log=$checkout/_output/fresh-$mode-$stamp.log
# On disk, not tmpfs: the caches and the lab's machines take several GB.
root=$(mktemp -d /var/tmp/meshlab-fresh.XXXXXX)
lab=fresh${stamp#*-}
mkdir -p "$root/home" "$root/tmp"
# mktemp -d makes its folder 0700, which a fresh machine's /tmp is not: the tests' sshd users and
# the proxies (UID 1337) read files the tests put under TMPDIR. As on a fresh machine: the
# folder open to all for reading, its tmp sticky and writable by all.
chmod 755 "$root"
chmod 1777 "$root/tmp"
export HOME=$root/home GOPATH=$root/gopath GOMODCACHE=$root/gomodcache GOCACHE=$root/gocache
export MESHLAB_CACHE=$root/cache npm_config_cache=$root/npm TMPDIR=$root/tmp
unset GOFLAGS
# BUNDLE_SOURCE=source: the rehearsal's machines reach no upstream release host or registry, and
# `make up` must not even ask them (its probe would).
make_vars=(LAB="$lab" LAB_HOSTS="$root/hosts.yaml" BUNDLE_DIR="$root/bundle" BIN="$root/bin/meshlab" BUNDLE_SOURCE=source)

rows=()   # "stage<TAB>seconds"
now() { printf '%s' "${EPOCHREALTIME/./}"; }   # microseconds
secs() { awk -v us="$1" 'BEGIN { printf "%.0f", us / 1e6 }'; }
fmt() { local s=$1; printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# stage NAME CMD...: runs CMD with every output line time-stamped into the log (and shown), and
# records how long it took.
stage() {
  local name=$1; shift
  echo "== fresh-check: $name: $*" | tee -a "$log"
  local t0 st
  t0=$(now)
  set +e
  "$@" 2>&1 | while IFS= read -r line; do printf '%s %s\n' "$(now)" "$line"; done | tee -a "$log" | cut -d' ' -f2-
  st=("${PIPESTATUS[@]}")
  set -e
  rows+=("$name"$'\t'"$(secs $(($(now) - t0)))")
  if [ "${st[0]}" -ne 0 ]; then
    echo "fresh-check: $name FAILED (exit ${st[0]})" | tee -a "$log"
    return "${st[0]}"
  fi
}

# between START_RE END_RE: seconds from the first log line matching START_RE to the first later
# line matching END_RE (lines carry the microsecond stamps stage() adds).
between() {
  awk -v a="$1" -v b="$2" '$0 ~ a && !s { s = $1 } s && $0 ~ b && $1 >= s { printf "%.0f", ($1 - s) / 1e6; exit }' "$log"
}

table() {
  local total
  total=$(secs $(($(now) - t_all)))
  {
    echo
    echo "| stage | time |"
    echo "|---|---|"
    for r in "${rows[@]}"; do
      echo "| ${r%%$'\t'*} | $(fmt "${r#*$'\t'}") |"
      if [ "${r%%$'\t'*}" = "bundle (from source)" ]; then
        # The bundle build logs one line per component ("component ready ... took=1m2s").
        grep -oE 'msg="component ready" component=[a-z]+ version=[^ ]+ took=[0-9hms.]+' "$log" |
          sed -E 's/.*component=([a-z]+) version=([^ ]+) took=(.*)/| · \1 \2 | \3 |/'
        grep -oE 'msg="images ready" count=[0-9]+ took=[0-9hms.]+' "$log" | sed -E 's/.*count=([0-9]+) took=(.*)/| · images (\1) | \2 |/'
      fi
      if [ "${r%%$'\t'*}" = "make up" ]; then
        s=$(between 'lab create --name' 'meshlab up: lab ') && [ -n "$s" ] && echo "| · lab create | $(fmt "$s") |"
        s=$(between 'meshlab up: lab ' '== .*\((image|meshlab-image)\)') && [ -n "$s" ] && echo "| · up: cluster (kubeadm, CNI, nodes Ready) | $(fmt "$s") |"
        s=$(between '== .*\((image|meshlab-image)\)' '== .*\(verify\)') && [ -n "$s" ] && echo "| · up: mesh, addons, Bookinfo | $(fmt "$s") |"
        s=$(between '== .*\(verify\)' '== .*\(summary\)|meshlab up: done') && [ -n "$s" ] && echo "| · up: verify bookinfo | $(fmt "$s") |"
      fi
    done
    echo "| **total** | **$(fmt "$total")** |"
  } | tee -a "$log"
}

leftovers() {
  local found=()
  local bridge
  bridge=mlab-$(printf '%s' "$lab" | sha256sum | cut -c1-6) # provision/locallab's bridge name
  ip netns list 2>/dev/null | grep -q "$lab" && found+=("network namespaces of $lab")
  ip link show "$bridge" >/dev/null 2>&1 && found+=("bridge $bridge")
  grep -q "$root" /proc/mounts && found+=("mounts under $root")
  pgrep -f "$root" >/dev/null && found+=("processes running from $root")
  if ((${#found[@]})); then
    echo "fresh-check: LEFT BEHIND: ${found[*]}" | tee -a "$log"
    return 1
  fi
}

cleanup() {
  local rc=$?
  ((${#rows[@]})) && table
  if [ "$mode" = up ] && [ -x "$root/bin/meshlab" ] && [ -d "$HOME/.meshlab/labs/$lab" ]; then
    echo "fresh-check: cleaning up lab $lab" | tee -a "$log"
    make "${make_vars[@]}" down >>"$log" 2>&1 || true
  fi
  leftovers || rc=1
  chmod -R u+w "$root" 2>/dev/null || true   # the module cache is read-only by design
  rm -rf "$root"
  [ -e "$root" ] && { echo "fresh-check: could not remove $root" | tee -a "$log"; rc=1; }
  echo "fresh-check: log: $log"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "fresh-check ($mode): caches and lab state in $root (removed at the end), lab $lab, log $log" | tee "$log"
t_all=$(now)
echo "fresh-check: $(go version), $(nproc) cores, commit $(git rev-parse --short HEAD)$(git diff --quiet || echo -dirty)" | tee -a "$log"

stage "deps (Debian packages)" make "${make_vars[@]}" deps
if [ "$mode" = up ]; then
  stage "meshlab build" make "${make_vars[@]}" build
  stage "bundle (from source)" make "${make_vars[@]}" bundle
  # `make up` again runs deps, build and bundle: on a machine where they just ran, seconds.
  stage "make up" make "${make_vars[@]}" up
  stage "make down" make "${make_vars[@]}" down
  rm -rf "$HOME/.meshlab/labs/$lab" # make down destroys the lab; its logs are in this log already
else
  # The same targets `make test` starts with, as stages of their own, so the table shows what a
  # cold cache costs (`make test` then finds them done). MESHLAB_TEST_LOCK names a lock file the
  # tests' stage waits for: test runs on one machine share fixed lab and namespace names.
  stage "meshlab build" make "${make_vars[@]}" build
  stage "bundle (from source)" make "${make_vars[@]}" bundle
  stage "test peers" make "${make_vars[@]}" peers
  wrap=()
  [ -n "${MESHLAB_TEST_LOCK:-}" ] && wrap=(flock "$MESHLAB_TEST_LOCK")
  stage "make test (.ci/run's command)" "${wrap[@]}" env CI=true make "${make_vars[@]}" test
fi
grep -q 'meshlab up: done' "$log" || [ "$mode" = test ] || { echo "fresh-check: meshlab up did not finish" | tee -a "$log"; exit 1; }
