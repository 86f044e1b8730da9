// Package inventory reads the hosts file: which machines make up a lab, how to reach them over
// SSH, which versions and components to install. Load parses, applies the defaults (defaults.go)
// and validates (validation.go); every problem in a file is reported at once, each with
// file:line:column and a hint, so a user fixes a file in one pass.
//
// # Format
//
// A YAML mapping (examples/hosts.yaml has every field, commented):
//
//	apiVersion: meshlab.dev/v1alpha1  # optional; must match when given
//	kind: Lab                         # optional; must match when given
//	name: vagrant                     # default: the file name without extension
//	versions: {...}                   # single fields of versions.Set, by their yaml keys
//	network: {podCIDR: 10.244.0.0/16, serviceCIDR: 10.96.0.0/12, podMasquerade: true}
//	components: {mesh: true, addons: [zipkin, prometheus, grafana], bookinfo: true,
//	             nodePorts: {zipkin: 30001, grafana: 30002, prometheus: 30003, jaeger: 30004, gateway: 30080},
//	             addonService: NodePort}  # or ClusterIP: the addons' UIs inside the cluster only
//	mirrors: {registries: {registry.k8s.io: URL, ...}, apt: {debian|docker|kubernetes: {url, key, suites}}}
//	ssh: {user, port, keyPath, agent, knownHosts, sudo, password, keyPassphrase, sudoPassword, bastion}
//	hosts: [...]
//	x-anything: ...                   # ignored; a place for YAML anchors (<<: *common)
//
// A host is a mapping {name, address, port, user, keyPath, agent, password, keyPassphrase, sudo,
// sudoPassword, bastion, role, labels} or the short form "user@address[:port] [role]"
// ("root@[fd00::1]:22" for IPv6 with a port). A file may also be just the list of hosts.
// Secrets are references, {env: NAME} or {file: PATH}, never inline values. A bastion is a
// mapping {address, port, user, keyPath} or "user@address[:port]".
//
// # Defaults
//
// Port 22, user root, agent on, sudo auto, no key path (the SSH client's usual keys); a host
// inherits everything from ssh: that it does not set itself. Paths expand "~" and are relative to
// the hosts file's folder. A host's name is its address, plus "-<port>" when the port is not 22.
// Roles: if no host names a role, the first is the control plane and the rest are workers;
// otherwise hosts without a role are workers.
//
// # Checks that touch the machine
//
// A key file named explicitly (keyPath) must exist, be a regular readable file and not be the
// .pub half; a secret file named explicitly must exist and be readable. Nothing else is looked
// up: environment variables are read only when a secret is resolved, so `meshlab plan` works on
// a fresh machine with the examples as they are.
package inventory
