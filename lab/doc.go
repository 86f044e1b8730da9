// Package lab is meshlab's orchestration layer: what a lab is and what `meshlab up`, `down` and
// `plan` do to one. It owns the lab's options (one typed struct that the CLI's flags and the
// wizard's answers both fill), its folder (provision/state.LabDir: state, logs, kubeconfig), and
// the one ordered list of phases of each action (phases.go): the cluster, the meshlab image, the
// mesh, the addons, Bookinfo and verify, readable top to bottom in one place.
//
// The cluster's phases live with it (cluster/phases and the playbook's tasks); what follows the
// cluster — the meshlab image, mesh, addons, Bookinfo, verify, the summary — is lab/stack, thin
// phases over the parts (mesh/install, addons, bookinfo/deploy, bookinfo/verify). Neither this
// package nor lab/stack holds host-level shell or Kubernetes plumbing. It sits
// between the commands and the parts: cmd/meshlab → lab → {cluster, mesh, addons, bookinfo} →
// provision, the way kubeadm keeps its app apart from cmd/kubeadm and Helm its pkg/action apart
// from cmd/helm. It is a top-level package rather than a folder under cmd/meshlab because the
// wizard (cmd/meshlab/tui) and the end-to-end tests call it too.
package lab
