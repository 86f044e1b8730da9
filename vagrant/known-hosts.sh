#!/bin/sh
# Records the lab machines' SSH host keys in vagrant/known_hosts, read through `vagrant ssh`
# (Vagrant's own authenticated channel), so meshlab can check every host key without
# trust-on-first-use. Run from the vagrant folder after `vagrant up`.
set -eu
out=known_hosts
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
ruby -r ./machines -e 'MeshlabLab.machines.each { |m| puts "#{m.name} #{m.ip}" }' |
while read -r name ip; do
	key=$(vagrant ssh "$name" -c 'cat /etc/ssh/ssh_host_ed25519_key.pub' </dev/null | tr -d '\r' | awk '{print $1, $2}')
	[ -n "$key" ] || { echo "no host key from $name" >&2; exit 1; }
	echo "$ip $key" >>"$tmp"
done
mv "$tmp" "$out"
chmod 600 "$out"
trap - EXIT
echo "wrote $(wc -l <"$out") host keys to vagrant/$out"
