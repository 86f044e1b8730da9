// Package playbooks holds meshlab's host playbooks as data. Each *.yaml file here is one playbook
// (format: the provision/playbook package documentation); adding a playbook is adding a file.
package playbooks

import "embed"

// FS holds every playbook file at its top level.
//
//go:embed *.yaml
var FS embed.FS
