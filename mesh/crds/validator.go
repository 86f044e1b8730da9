package crds

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"github.com/meshlab/meshlab/mesh/config"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ValidatePath is where the validating webhook is served.
const ValidatePath = "/validate"

// DefaultValidatorPort is the validating webhook's port in the control-plane pod (Istio's
// istiod serves validation beside injection on 15017; meshlab keeps the two servers apart).
const DefaultValidatorPort = 15018

// maxReviewBytes bounds a request body: an AdmissionReview of one Istio resource is kilobytes.
const maxReviewBytes = 4 << 20

// Validator is the validating admission webhook for VirtualService, DestinationRule, RouteRule,
// AuthorizationPolicy and RequestAuthentication. It parses the object exactly as a routing file is parsed (mesh/config), so whatever
// the proxy would refuse is refused at `kubectl apply`, with the field that is wrong.
type Validator struct {
	log *slog.Logger
}

// NewValidator returns the webhook handler; log receives one line per rejection.
func NewValidator(log *slog.Logger) *Validator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Validator{log: log}
}

func (v *Validator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an admission.k8s.io/v1 AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		http.Error(w, "content type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err != nil || len(body) > maxReviewBytes {
		http.Error(w, "request body unreadable or too large", http.StatusBadRequest)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, "not an AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	resp := v.Review(review.Request)
	resp.UID = review.Request.UID
	review.Request, review.Response = nil, resp
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&review); err != nil {
		v.log.Warn("validation webhook: write response", "err", err)
	}
}

// Review answers one admission request. Anything but a CREATE or UPDATE of an object is allowed:
// deletes need no validation, and the webhook registration sends nothing else.
func (v *Validator) Review(rq *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if len(rq.Object.Raw) == 0 || (rq.Operation != admissionv1.Create && rq.Operation != admissionv1.Update) {
		return &admissionv1.AdmissionResponse{Allowed: true}
	}
	what := fmt.Sprintf("%s %s/%s", rq.Kind.Kind, rq.Namespace, rq.Name)
	if err := Validate(what, rq.Object.Raw); err != nil {
		v.log.Info("rejected", "resource", what, "user", rq.UserInfo.Username, "err", err)
		return &admissionv1.AdmissionResponse{
			Allowed: false,
			Result: &metav1.Status{
				Status:  metav1.StatusFailure,
				Reason:  metav1.StatusReasonInvalid,
				Code:    http.StatusUnprocessableEntity,
				Message: err.Error(),
			},
		}
	}
	return &admissionv1.AdmissionResponse{Allowed: true}
}

// Validate checks one resource (JSON or YAML) with mesh/config's parser. The error names the
// resource (what) and the field; file and line, meaningless for an API object, are left out.
func Validate(what string, object []byte) error {
	_, err := config.Parse(what, object)
	if err == nil {
		return nil
	}
	var doc *config.DocError
	if errors.As(err, &doc) {
		return fmt.Errorf("%s: %w", what, doc.Err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
