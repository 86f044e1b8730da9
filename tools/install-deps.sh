#!/usr/bin/env bash
# Installs the Debian packages meshlab's local lab and tests use (Debian 12, as root). Does
# nothing when they are all installed, so `make up` and `make test` can always call it.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  openssh-server openssh-client sudo          # real sshd peers for the SSH transport and engine tests
  iproute2 iptables nftables util-linux       # network namespaces, capture rules, setpriv
  shellcheck                                  # every rendered playbook script is shellchecked
  haproxy                                     # baseline proxy in the data-plane benchmark
  prometheus                                  # real Prometheus scraping the sidecars
  runc containerd debootstrap                 # local lab machines and image tests
  gcc libc6-dev                               # flanneld (cgo, static) in the offline bundle
  tmux                                        # the wizard driven in a real terminal
  vagrant vagrant-libvirt ruby                # `vagrant validate` of the Vagrant lab (vagrant-libvirt is only a
                                              # Recommends of vagrant, and recommends are not installed)
  etcd-server                                 # a real etcd under the kube-apiserver in registry and webhook tests
  chromium                                    # headless browser tests of the web UIs (internal/browser)
  socat conntrack ca-certificates curl
  apt-utils gpg                               # apt-ftparchive and gpg: the signed apt repositories standing in for
                                              # pkgs.k8s.io and Debian in the mirrors end-to-end test
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The bundle builds Prometheus's web UI with npm. Debian's nodejs (18) is older than the UI needs:
# with it the build installs a pinned Node from the npm registry, so npm alone is what matters.
command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root (sudo make ...)" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
