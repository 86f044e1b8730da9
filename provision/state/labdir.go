package state

import (
	"fmt"
	"os"
	"path/filepath"
)

// LabDir is one lab's folder, ~/.meshlab/labs/<lab>/ unless the user gives another base
// (--log-dir). Everything meshlab keeps about a lab lives in it, and this type is the only place
// that knows the layout:
//
//	state.json   tasks recorded as done per host (Store)
//	logs/        one log per host and the run's own log (Logs)
//	kubeconfig   the cluster's admin kubeconfig, 0600 (written by the cluster phases)
//	locallab/    the machines of a local lab (provision/locallab), when meshlab made them
//	meshlab-image-<digest>.tar   the meshlab image built for the lab's nodes
type LabDir string

// DefaultBase is the folder that holds every lab's folder: ~/.meshlab/labs.
func DefaultBase() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home folder for ~/.meshlab (or pass --log-dir): %w", err)
	}
	return filepath.Join(home, ".meshlab", "labs"), nil
}

// LabDirFor is the folder of lab name under base ("" means DefaultBase).
func LabDirFor(base, name string) (LabDir, error) {
	if base == "" {
		var err error
		if base, err = DefaultBase(); err != nil {
			return "", err
		}
	}
	return LabDir(filepath.Join(base, name)), nil
}

// Path is the folder itself.
func (d LabDir) Path() string { return string(d) }

// StateFile is the recorded tasks (state.json).
func (d LabDir) StateFile() string { return filepath.Join(string(d), FileName) }

// LogsDir holds the per-host logs and the run's log.
func (d LabDir) LogsDir() string { return filepath.Join(string(d), "logs") }

// Kubeconfig is the cluster's admin kubeconfig, once the cluster phases fetched it.
func (d LabDir) Kubeconfig() string { return filepath.Join(string(d), "kubeconfig") }

// LocalLab holds a local lab's machines (rootfs overlays, runc state, their lab.json).
func (d LabDir) LocalLab() string { return filepath.Join(string(d), "locallab") }

// ImageTarball is the meshlab image built for the lab's nodes from the binary with this digest.
func (d LabDir) ImageTarball(digest string) string {
	return filepath.Join(string(d), "meshlab-image-"+digest+".tar")
}

// ImageTarballs are every meshlab image tarball in the folder, of this build or earlier ones.
func (d LabDir) ImageTarballs() []string {
	found, _ := filepath.Glob(d.ImageTarball("*"))
	return found
}

// HasKubeconfig says whether the cluster phases have written the kubeconfig.
func (d LabDir) HasKubeconfig() bool {
	_, err := os.Stat(d.Kubeconfig())
	return err == nil
}
