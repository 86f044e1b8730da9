// Package standin is a local stand-in for the internet, for proving meshlab's online install on
// machines that have none: an OCI registry serving images under their upstream names, and
// signed apt repositories laid out like Debian's archive and pkgs.k8s.io, with Kubernetes
// packages built from meshlab's own binaries. Everything listens on one address the caller
// gives (a local lab's bridge address), and nothing in it reaches further: the registry has no
// pull-through upstream, and the repositories serve files from a folder.
package standin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RegistryPackage is the Debian package whose binary serves the images: distribution's registry
// 2.8.2 (tools/testpeers/build.sh fetches it).
const RegistryPackage = "docker-registry=2.8.2+ds1-1"

// CacheDir is meshlab's cache: $MESHLAB_CACHE, else /var/cache/meshlab.
func CacheDir() string {
	if d := os.Getenv("MESHLAB_CACHE"); d != "" {
		return d
	}
	return "/var/cache/meshlab"
}

// RegistryBinary is where tools/testpeers/build.sh puts the registry binary under the meshlab
// cache; "" and a reason when it is not there.
func RegistryBinary(cacheDir string) (path, missing string) {
	p := filepath.Join(cacheDir, "testpeers", "docker-registry-"+strings.TrimPrefix(RegistryPackage, "docker-registry="), "docker-registry")
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		return "", p + " is missing: run tools/testpeers/build.sh (.ci/run does)"
	}
	return p, ""
}

// Registry is a running docker-registry process.
type Registry struct {
	Addr    string // host:port it listens on
	Storage string // its filesystem storage root
	cmd     *exec.Cmd
	done    chan error
	log     *bytes.Buffer
	stopped bool
}

// registryConfig is the whole configuration: filesystem storage, one listener, no proxy (so no
// pull-through to an upstream registry), no auth, no debug listener, no notifications.
const registryConfig = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`

// StartRegistry runs the registry binary on addr (host:port; the host must be an address of
// this machine, never a wildcard) with storage in dir, and waits until it answers.
func StartRegistry(ctx context.Context, binary, addr, dir string) (*Registry, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" || net.ParseIP(host) == nil || net.ParseIP(host).IsUnspecified() {
		return nil, fmt.Errorf("registry: listen address %q must be one IP address and port", addr)
	}
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, registryConfig, storage, addr), 0o644); err != nil {
		return nil, err
	}
	r := &Registry{Addr: addr, Storage: storage, done: make(chan error, 1), log: &bytes.Buffer{}}
	r.cmd = exec.Command(binary, "serve", conf)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	r.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"} // no proxy settings, no OTEL or registry overrides
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("registry: start %s: %w", binary, err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		select {
		case err := <-r.done:
			return nil, fmt.Errorf("registry: exited at start (%v): %s", err, r.log)
		case <-ctx.Done():
			r.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Stop()
			return nil, fmt.Errorf("registry: %s did not answer within 30 s: %s", addr, r.log)
		}
	}
}

// Stop ends the registry process (its own, by PID) and waits for it. Stopping twice is fine.
func (r *Registry) Stop() {
	if r == nil || r.cmd == nil || r.stopped {
		return
	}
	r.stopped = true
	_ = r.cmd.Process.Kill() // an error means it exited already
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
	}
}

// Blob is the file holding the blob with this digest in the registry's storage.
func (r *Registry) Blob(digest string) (string, error) {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hex) < 2 {
		return "", errors.New("registry: not a sha256 digest: " + digest)
	}
	return filepath.Join(r.Storage, "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data"), nil
}
