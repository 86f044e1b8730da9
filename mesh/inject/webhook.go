package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WebhookPath is where the webhook is served (Istio uses /inject too).
const WebhookPath = "/inject"

// maxReviewBytes bounds a request body: the apiserver caps objects at ~3 MiB in etcd, and a pod
// review carries the object once (twice for updates, which this webhook does not register for).
const maxReviewBytes = 8 << 20

// Webhook is the mutating admission webhook: an http.Handler for admission.k8s.io/v1
// AdmissionReview requests about pods, answering with the same JSON patch Pod computes for the
// CLI. Construct with NewWebhook; safe for concurrent use (it holds no mutable state).
type Webhook struct {
	opts Options
	log  *slog.Logger
}

// NewWebhook returns the handler. Decide Options.NativeSidecar before (NativeSidecarsFor asks
// the apiserver once).
func NewWebhook(o Options, log *slog.Logger) *Webhook {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhook{opts: o, log: log}
}

var podResource = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "admission reviews are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		http.Error(w, fmt.Sprintf("Content-Type %q: want application/json", ct), http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewBytes))
	if err != nil {
		http.Error(w, "reading AdmissionReview: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		http.Error(w, "decoding AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	if review.Request == nil {
		http.Error(w, "AdmissionReview has no request", http.StatusBadRequest)
		return
	}
	resp := h.Review(review.Request)
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Response: resp,
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		h.log.Warn("writing admission response", "uid", review.Request.UID, "err", err)
	}
}

// Review answers one admission request. Anything that is not a pod CREATE is allowed unchanged;
// a pod with an invalid injection annotation is denied with a message naming it (under
// failurePolicy Fail a crash-looping init container would be worse than a clear refusal).
func (h *Webhook) Review(rq *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: rq.UID, Allowed: true}
	log := h.log.With("uid", rq.UID, "namespace", rq.Namespace, "name", rq.Name)
	if rq.Resource != podResource || rq.SubResource != "" || rq.Operation != admissionv1.Create {
		log.Debug("not a pod creation; allowed unchanged", "resource", rq.Resource.Resource, "op", rq.Operation)
		return resp
	}
	var pod corev1.Pod
	if err := json.Unmarshal(rq.Object.Raw, &pod); err != nil {
		return deny(resp, http.StatusBadRequest, fmt.Errorf("decoding pod: %w", err))
	}
	name := pod.Name
	if name == "" {
		name = pod.GenerateName + "*"
	}
	log = log.With("pod", name)
	res, err := Pod(pod.ObjectMeta, pod.Spec, h.opts)
	if err != nil {
		log.Warn("injection refused", "err", err)
		return deny(resp, http.StatusUnprocessableEntity, fmt.Errorf("meshlab sidecar injection: pod %s/%s: %w", rq.Namespace, name, err))
	}
	if !res.Injected() {
		log.Info("not injected", "reason", res.Skip)
		return resp
	}
	patch, err := res.Patch.JSON()
	if err != nil {
		return deny(resp, http.StatusInternalServerError, err)
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	log.Info("injected", "native", h.opts.NativeSidecar, "ops", len(res.Patch))
	return resp
}

func deny(resp *admissionv1.AdmissionResponse, code int32, err error) *admissionv1.AdmissionResponse {
	if err == nil {
		err = errors.New("unknown error")
	}
	resp.Allowed = false
	resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: code, Message: err.Error()}
	return resp
}
