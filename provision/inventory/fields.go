package inventory

import (
	"sort"
	"strings"
)

// Field names per section. The unknown-field check and its "did you mean" hints work from these.
var (
	topFields        = []string{"apiVersion", "kind", "name", "versions", "network", "components", "mirrors", "ssh", "hosts"}
	networkFields    = []string{"podCIDR", "serviceCIDR", "podMasquerade"}
	componentFields  = []string{"mesh", "addons", "bookinfo", "nodePorts", "addonService"}
	sshDefaultFields = []string{"user", "port", "keyPath", "agent", "knownHosts", "sudo",
		"password", "keyPassphrase", "sudoPassword", "bastion"}
	hostFields = []string{"name", "address", "internalAddress", "port", "user", "keyPath", "agent", "password",
		"keyPassphrase", "sudo", "sudoPassword", "bastion", "role", "labels"}
	bastionFields = []string{"address", "port", "user", "keyPath"}
	secretFields  = []string{"env", "file"}
)

// fieldSynonyms maps names that other installers use (k0sctl, KubeKey, RKE, Sealos, Ansible) to
// meshlab's, because users bring their old files along and a plain "unknown field" is unhelpful.
var fieldSynonyms = map[string]string{
	"host": "address", "ip": "address", "ips": "address", "hostname": "address",
	"ansible_host": "address", "privateaddress": "internalAddress", "private_address": "internalAddress",
	"ssh_port": "port", "ansible_port": "port",
	"username": "user", "ansible_user": "user",
	"privatekeypath": "keyPath", "ssh_key_path": "keyPath", "identityfile": "keyPath", "key": "keyPath",
	"pk": "keyPath", "ansible_ssh_private_key_file": "keyPath", "sshkey": "keyPath",
	"passwd": "password", "ansible_password": "password",
	"pkpasswd": "keyPassphrase", "passphrase": "keyPassphrase",
	"become": "sudo", "become_password": "sudoPassword", "ansible_become_password": "sudoPassword",
	"roles": "role", "bastion_host": "bastion", "jump": "bastion", "proxyjump": "bastion",
	"ssh_agent_auth": "agent", "useagent": "agent",
	"podsubnet": "podCIDR", "pod_network_cidr": "podCIDR", "clustercidr": "podCIDR",
	"servicesubnet": "serviceCIDR", "service_cidr": "serviceCIDR",
	"nodes": "hosts", "machines": "hosts", "kubernetes_version": "versions",
}

// suggest returns the known field closest to an unknown one, or "" when none is close enough to
// be a likely typo.
func suggest(unknown string, known []string) string {
	lower := strings.ToLower(unknown)
	if syn, ok := fieldSynonyms[lower]; ok && contains(known, syn) {
		return syn
	}
	best, bestDist := "", 1<<30
	for _, k := range known {
		if strings.EqualFold(k, unknown) {
			return k
		}
		dist := editDistance(lower, strings.ToLower(k))
		if dist < bestDist {
			best, bestDist = k, dist
		}
	}
	// A typo changes a few letters; allow about one edit per three letters, at most three.
	if limit := min(3, max(1, len(unknown)/3)); bestDist <= limit {
		return best
	}
	return ""
}

// unknownFieldHint is the hint for an unknown key: a suggestion when there is one, else the list
// of keys the section accepts.
func unknownFieldHint(key string, known []string) string {
	if s := suggest(key, known); s != "" {
		return "did you mean " + s + "?"
	}
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	return "known fields: " + strings.Join(sorted, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// editDistance is the optimal-string-alignment distance between two short strings: insertions,
// deletions, substitutions and swaps of neighbours ("prot" for "port") each count one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
