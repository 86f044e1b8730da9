package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlab/meshlab/bookinfo/verify"
)

// bookinfoApps are Bookinfo's services, each running as its own bookinfo-<app> ServiceAccount.
var bookinfoApps = []string{"details", "ratings", "reviews", "productpage"}

// mutualTLS checks the mesh's security half on the lab (the up's verify already proved every hop
// mutual TLS and STRICT/PERMISSIVE against a pod without a sidecar): every proxy's identity and
// certificate in `mesh status` and `mesh describe`, a pod that asks for another ServiceAccount's
// identity refused, and certificates of one minute renewed under a request stream with no
// failed page.
func mutualTLS(ctx context.Context, t *testing.T, c *cli, k kubectl, b verify.Browser) {
	kc := c.dir().Kubeconfig()
	t.Run("identities in mesh status and describe", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, c.bin, "mesh", "status", "--kubeconfig", kc).CombinedOutput()
		if err != nil {
			t.Fatalf("mesh status: %v\n%s", err, out)
		}
		identitiesInStatus(t, string(out))
		pod := strings.TrimSpace(k.run(ctx, t, "-n", "bookinfo", "get", "pod", "-l", "app=productpage", "-o", "jsonpath={.items[0].metadata.name}"))
		desc, err := exec.CommandContext(ctx, c.bin, "mesh", "describe", pod, "-n", "bookinfo", "--kubeconfig", kc).CombinedOutput()
		t.Logf("meshlab mesh describe %s:\n%s", pod, desc)
		if err != nil {
			t.Fatalf("mesh describe: %v", err)
		}
		for _, want := range []string{"spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage", "expires in", "SYNCED",
			"Inbound mTLS:", "mutual TLS to all"} {
			if !strings.Contains(string(desc), want) {
				t.Errorf("describe lacks %q", want)
			}
		}
	})

	t.Run("a pod asking for another ServiceAccount's identity is refused", func(t *testing.T) {
		manifest := filepath.Join(t.TempDir(), "forger.yaml")
		image := strings.TrimSpace(k.run(ctx, t, "-n", "meshlab-system", "get", "deploy", "meshlab-pilot", "-o", "jsonpath={.spec.template.spec.containers[0].image}"))
		if err := os.WriteFile(manifest, []byte(forgerPod(image)), 0o644); err != nil {
			t.Fatal(err)
		}
		k.run(ctx, t, "apply", "-f", manifest)
		defer k.run(ctx, t, "delete", "--ignore-not-found", "--wait=false", "-f", manifest)
		deadline := time.Now().Add(3 * time.Minute)
		for {
			logs, _ := exec.CommandContext(ctx, k.bin, "--kubeconfig", k.kubeconfig, "-n", "bookinfo", "logs", "meshlab-forger").CombinedOutput()
			if strings.Contains(string(logs), "PermissionDenied") && strings.Contains(string(logs), "bookinfo-ratings") {
				t.Logf("refused as expected:\n%s", lastLines(string(logs), 3))
				break
			}
			if strings.Contains(string(logs), "identity: workload certificate") {
				t.Fatalf("bookinfo-details' token got a certificate for bookinfo-ratings:\n%s", logs)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no refusal in the forger's log within 3 min:\n%s", logs)
			}
			sleep(ctx, t, 2*time.Second)
		}
	})

	t.Run("one-minute certificates renewed under load, no page lost", func(t *testing.T) {
		patch := func(ttl string) {
			value := `"` + ttl + `"`
			if ttl == "" {
				value = "null"
			}
			for _, d := range []string{"details-v1", "ratings-v1", "reviews-v2", "productpage-v1"} {
				k.run(ctx, t, "-n", "bookinfo", "patch", "deployment", d, "--type=merge", "-p",
					`{"spec":{"template":{"metadata":{"annotations":{"meshlab.dev/cert-ttl":`+value+`}}}}}`)
			}
			for _, d := range []string{"details-v1", "ratings-v1", "reviews-v2", "productpage-v1"} {
				k.run(ctx, t, "-n", "bookinfo", "rollout", "status", "deployment/"+d, "--timeout=5m")
			}
		}
		patch("1m")
		defer patch("")
		untilMix(ctx, t, b) // every version answers again after the rollout
		var ok, failed atomic.Int64
		var first atomic.Value
		deadline := time.Now().Add(75 * time.Second) // two renewals at half of a minute
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) && ctx.Err() == nil {
					p, err := b.Get(ctx, nil)
					if err == nil && (p.ReviewsUnavailable() || p.RatingsUnavailable() || strings.Contains(p.Body, "details are currently unavailable")) {
						err = fmt.Errorf("a service was unavailable on the page (reviews %s)", p.ReviewsVersion())
					}
					if err != nil {
						failed.Add(1)
						first.CompareAndSwap(nil, err)
						continue
					}
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		t.Logf("MEASURE renewals under load: %d pages over 75 s with 1-minute certificates, %d failed", ok.Load(), failed.Load())
		if n := failed.Load(); n > 0 {
			t.Errorf("%d of %d pages failed across certificate renewals; first: %v", n, n+ok.Load(), first.Load())
		}
		out, _ := exec.CommandContext(ctx, c.bin, "mesh", "status", "--kubeconfig", kc).CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "bookinfo-productpage") && !strings.Contains(l, "in 1m") && !strings.Contains(l, "in 0s") && !strings.Contains(l, "in 2m") {
				t.Errorf("productpage's certificate does not expire within the minute (renewal?):\n%s", l)
			}
		}
	})
}

// forgerPod runs a sidecar with bookinfo-details' projected token that asks the CA for
// bookinfo-ratings' certificate.
func forgerPod(image string) string {
	return `apiVersion: v1
kind: Pod
metadata:
  name: meshlab-forger
  namespace: bookinfo
  labels: {app: meshlab-forger, sidecar.istio.io/inject: "false"}
spec:
  serviceAccountName: bookinfo-details
  restartPolicy: Never
  containers:
  - name: forger
    image: ` + image + `
    imagePullPolicy: IfNotPresent
    command: [/usr/local/bin/meshlab-proxy]
    args: [proxy, --xds, meshlab-pilot.meshlab-system.svc:15012, --xds-root-cert, /var/run/secrets/meshlab/root-cert.pem,
      --token, /var/run/secrets/tokens/meshlab-token, --mtls, --service-account, bookinfo-ratings]
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: INSTANCE_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    securityContext: {runAsUser: 1337, runAsGroup: 1337, runAsNonRoot: true, allowPrivilegeEscalation: false}
    volumeMounts:
    - {name: meshlab-token, mountPath: /var/run/secrets/tokens, readOnly: true}
    - {name: meshlab-ca-root-cert, mountPath: /var/run/secrets/meshlab, readOnly: true}
  volumes:
  - name: meshlab-token
    projected: {sources: [{serviceAccountToken: {audience: meshlab-ca, expirationSeconds: 3600, path: meshlab-token}}]}
  - name: meshlab-ca-root-cert
    configMap: {name: meshlab-ca-root-cert}
`
}

// identitiesInStatus checks `meshlab mesh status` output: every Bookinfo workload's proxy
// authenticated as its ServiceAccount's identity, with a certificate expiry and PERMISSIVE inbound.
func identitiesInStatus(t *testing.T, out string) {
	t.Helper()
	for _, app := range bookinfoApps {
		id := "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-" + app
		found := false
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, id) && strings.Contains(l, " in ") && strings.Contains(l, "PERMISSIVE") {
				found = true
			}
		}
		if !found {
			t.Errorf("no proxy authenticated as %s with a certificate expiry and PERMISSIVE:\n%s", id, out)
		}
	}
}
