package inventory

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Host labels become Kubernetes node labels, so they follow Kubernetes' syntax: a key is an
// optional DNS-subdomain prefix and a name of at most 63 characters; a value is empty or at
// most 63 characters; names and values start and end with a letter or digit.
var (
	labelNameRE   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$`)
	labelPrefixRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	envNameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

const labelRules = "letters, digits, '-', '_' and '.', at most 63, starting and ending with a letter or digit"

func (d *decoder) checkLabels(labels map[string]string, path string) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys) // stable report order
	for _, k := range keys {
		kp := join(path, k)
		if msg := labelKeyProblem(k); msg != "" {
			d.problem(d.at(kp+".key"), kp, msg, "a label key is [prefix/]name: "+labelRules)
		}
		if v := labels[k]; v != "" && !labelNameRE.MatchString(v) {
			d.problem(d.at(kp), kp, fmt.Sprintf("value %q is not a valid label value", truncate(v, 70)), "a label value has "+labelRules)
		}
	}
}

func labelKeyProblem(k string) string {
	prefix, name, hasPrefix := strings.Cut(k, "/")
	if !hasPrefix {
		prefix, name = "", k
	}
	switch {
	case k == "":
		return "the label key is empty"
	case hasPrefix && (prefix == "" || len(prefix) > 253 || !labelPrefixRE.MatchString(prefix)):
		return fmt.Sprintf("key prefix %q is not a DNS subdomain", truncate(prefix, 70))
	case !labelNameRE.MatchString(name):
		return fmt.Sprintf("key %q is not a valid label name", truncate(k, 70))
	}
	return ""
}
