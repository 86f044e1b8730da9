package kubeadm

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGoldenConfigsPassKubeadmValidate checks the generated configs with the real kubeadm
// (`kubeadm config validate`): $MESHLAB_KUBEADM, else the offline bundle's ($MESHLAB_BUNDLE, which
// `make test` sets), else kubeadm on PATH.
func TestGoldenConfigsPassKubeadmValidate(t *testing.T) {
	bin := os.Getenv("MESHLAB_KUBEADM")
	if b := os.Getenv("MESHLAB_BUNDLE"); bin == "" && b != "" {
		if _, err := os.Stat(filepath.Join(b, "bin", "kubeadm")); err == nil {
			bin = filepath.Join(b, "bin", "kubeadm")
		}
	}
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("kubeadm"); err != nil {
			t.Skip("needs kubeadm: set MESHLAB_KUBEADM to a kubeadm binary (the offline bundle's bin/kubeadm) or put one on PATH")
		}
	}
	for _, f := range []string{"init-online.yaml", "init-offline.yaml", "init-ssh-name.yaml", "join-offline.yaml"} {
		out, err := exec.Command(bin, "config", "validate", "--config", filepath.Join("testdata", f)).CombinedOutput()
		if err != nil {
			t.Errorf("kubeadm config validate %s: %v\n%s", f, err, out)
		}
	}
}
