package inject

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func samplePod() (metav1.ObjectMeta, corev1.PodSpec) {
	return metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "a"},
			Annotations: map[string]string{"keep": "me"}},
		corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "setup", Image: "x"}},
			Containers:     []corev1.Container{{Name: "app", Image: "y"}},
			Volumes:        []corev1.Volume{{Name: "data"}},
		}
}

// TestPodIsPure: Pod never changes its arguments and gives the same patch every time.
func TestPodIsPure(t *testing.T) {
	meta, spec := samplePod()
	meta0, spec0 := samplePod()
	first, err := Pod(meta, spec, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	second, err := Pod(meta, spec, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(meta0, meta); diff != "" {
		t.Errorf("metadata changed:\n%s", diff)
	}
	if diff := cmp.Diff(spec0, spec); diff != "" {
		t.Errorf("spec changed:\n%s", diff)
	}
	a, _ := first.Patch.JSON()
	b, _ := second.Patch.JSON()
	if string(a) != string(b) {
		t.Errorf("two runs, two patches:\n%s\n%s", a, b)
	}
}

// TestPodOrdering: capture runs first; the native proxy comes before the user's init containers
// (so they run behind it); a legacy proxy is the first regular container (its postStart hook
// holds the rest).
func TestPodOrdering(t *testing.T) {
	meta, spec := samplePod()
	for _, native := range []bool{true, false} {
		o := testOptions()
		o.NativeSidecar = native
		pod := applyToPod(t, meta, spec, o)
		var inits, mains []string
		for _, c := range pod.Spec.InitContainers {
			inits = append(inits, c.Name)
		}
		for _, c := range pod.Spec.Containers {
			mains = append(mains, c.Name)
		}
		wantInit, wantMain := []string{"meshlab-init", "meshlab-proxy", "setup"}, []string{"app"}
		if !native {
			wantInit, wantMain = []string{"meshlab-init", "setup"}, []string{"meshlab-proxy", "app"}
		}
		if diff := cmp.Diff(wantInit, inits); diff != "" {
			t.Errorf("native=%v init containers:\n%s", native, diff)
		}
		if diff := cmp.Diff(wantMain, mains); diff != "" {
			t.Errorf("native=%v containers:\n%s", native, diff)
		}
		proxy := findContainer(pod, ProxyContainerName)
		if native {
			if proxy.RestartPolicy == nil || *proxy.RestartPolicy != corev1.ContainerRestartPolicyAlways || proxy.StartupProbe == nil {
				t.Errorf("native proxy needs restartPolicy Always and a startupProbe: %+v", proxy)
			}
		} else if proxy.Lifecycle == nil || proxy.Lifecycle.PostStart == nil || proxy.RestartPolicy != nil {
			t.Errorf("legacy proxy needs a postStart wait and no restartPolicy: %+v", proxy)
		}
		if *proxy.SecurityContext.RunAsUser != ProxyUID || *proxy.SecurityContext.RunAsGroup != ProxyUID {
			t.Errorf("proxy must run as %d:%d", ProxyUID, ProxyUID)
		}
		if pod.Annotations["keep"] != "me" || pod.Annotations[PrometheusPortAnnotation] != "15090" {
			t.Errorf("annotations %v", pod.Annotations)
		}
		var names []string
		for _, v := range pod.Spec.Volumes {
			names = append(names, v.Name)
		}
		if d := cmp.Diff([]string{"data", PodInfoVolumeName, TokenVolumeName, RootCertVolumeName}, names); d != "" {
			t.Errorf("volumes (-want +got):\n%s", d)
		}
		if pod.Labels["security.istio.io/tlsMode"] != "istio" {
			t.Errorf("labels %v: the sidecar's pod must be marked for auto mTLS", pod.Labels)
		}
	}
}

func TestPodEmptySpec(t *testing.T) {
	pod := applyToPod(t, metav1.ObjectMeta{}, corev1.PodSpec{}, testOptions())
	if len(pod.Spec.InitContainers) != 2 || len(pod.Annotations) != 4 {
		t.Errorf("empty pod not injected: %+v", pod)
	}
}

func TestCaptureAnnotationErrorsAll(t *testing.T) {
	_, err := captureFlags(map[string]string{
		ExcludeInboundPortsAnnotation:     "70000",
		ExcludeOutboundIPRangesAnnotation: "10.0.0.0/33",
	})
	if err == nil {
		t.Fatal("accepted bad annotations")
	}
	for _, want := range []string{ExcludeInboundPortsAnnotation, ExcludeOutboundIPRangesAnnotation} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func applyToPod(t *testing.T, meta metav1.ObjectMeta, spec corev1.PodSpec, o Options) corev1.Pod {
	t.Helper()
	res, err := Pod(meta, spec, o)
	if err != nil || !res.Injected() {
		t.Fatalf("Pod: %v, skip %q", err, res.Skip)
	}
	raw, err := json.Marshal(corev1.Pod{ObjectMeta: meta, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	out := applyPatch(t, raw, res.Patch)
	var pod corev1.Pod
	if err := json.Unmarshal(out, &pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

func findContainer(p corev1.Pod, name string) corev1.Container {
	for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		if c.Name == name {
			return c
		}
	}
	return corev1.Container{}
}

func TestCertTTLAnnotation(t *testing.T) {
	pod := applyToPod(t, metav1.ObjectMeta{Annotations: map[string]string{CertTTLAnnotation: "2m"}}, corev1.PodSpec{}, testOptions())
	args := findContainer(pod, ProxyContainerName).Args
	if got := strings.Join(args, " "); !strings.HasSuffix(got, "--mtls --cert-ttl 2m0s") {
		t.Errorf("proxy args %q, want the certificate lifetime passed on", got)
	}
	for _, bad := range []string{"soon", "1s", "100000h"} {
		if _, err := Pod(metav1.ObjectMeta{Annotations: map[string]string{CertTTLAnnotation: bad}}, corev1.PodSpec{}, testOptions()); err == nil ||
			!strings.Contains(err.Error(), CertTTLAnnotation) {
			t.Errorf("%s=%q: %v, want an error naming the annotation", CertTTLAnnotation, bad, err)
		}
	}
}
