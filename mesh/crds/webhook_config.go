package crds

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"

	"github.com/meshlab/meshlab/mesh/admission"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WebhookName is the ValidatingWebhookConfiguration's object name.
const WebhookName = "meshlab-validation"

// WebhookConfig says where the validator runs: a Service, or a URL (a test apiserver and the
// validator both on loopback).
type WebhookConfig struct {
	ServiceName      string
	ServiceNamespace string
	ServicePort      int32 // default DefaultValidatorPort
	URL              string
	CABundle         []byte // PEM of the CA that signed the validator's serving certificate
}

// ValidatingWebhookConfiguration renders the registration. Choices, and why:
//
//   - failurePolicy Fail: a resource the proxy cannot apply would otherwise be stored and then
//     ignored by the control plane, which is the silent failure this webhook exists to prevent.
//     The cost, refusing config writes while the validator is down, is visible and retryable.
//   - every served version of each group (matchPolicy Equivalent also covers future ones);
//     CREATE and UPDATE only: a delete needs no validation.
//   - sideEffects None: validation only reads the request, so dry-run requests are safe.
func ValidatingWebhookConfiguration(c WebhookConfig) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	if c.URL == "" && (c.ServiceName == "" || c.ServiceNamespace == "") {
		return nil, errors.New("validating webhook configuration: service name and namespace (or a URL) are required")
	}
	if len(c.CABundle) == 0 {
		return nil, errors.New("validating webhook configuration: the CA bundle is empty (the apiserver could not verify the webhook)")
	}
	if c.ServicePort == 0 {
		c.ServicePort = DefaultValidatorPort
	}
	client := admissionregistrationv1.WebhookClientConfig{CABundle: c.CABundle}
	if c.URL != "" {
		client.URL = ptr(c.URL)
	} else {
		client.Service = &admissionregistrationv1.ServiceReference{
			Name: c.ServiceName, Namespace: c.ServiceNamespace, Path: ptr(ValidatePath), Port: ptr(c.ServicePort),
		}
	}
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	rules := []admissionregistrationv1.RuleWithOperations{
		{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{"networking.istio.io"}, APIVersions: ServedVersions["networking.istio.io"],
			Resources: []string{"virtualservices", "destinationrules"}, Scope: ptr(admissionregistrationv1.NamespacedScope),
		}},
		{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{"config.istio.io"}, APIVersions: ServedVersions["config.istio.io"],
			Resources: []string{"routerules"}, Scope: ptr(admissionregistrationv1.NamespacedScope),
		}},
		{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{"security.istio.io"}, APIVersions: ServedVersions["security.istio.io"],
			Resources: []string{"peerauthentications", "authorizationpolicies", "requestauthentications"}, Scope: ptr(admissionregistrationv1.NamespacedScope),
		}},
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: WebhookName, Labels: map[string]string{"app.kubernetes.io/part-of": "meshlab"}},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "validation.meshlab.io",
			ClientConfig:            client,
			Rules:                   rules,
			FailurePolicy:           ptr(admissionregistrationv1.Fail),
			MatchPolicy:             ptr(admissionregistrationv1.Equivalent),
			SideEffects:             ptr(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr(int32(10)),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}, nil
}

// Serve runs the validator over TLS on ln until ctx ends. /healthz/ready answers 200.
func Serve(ctx context.Context, ln net.Listener, cert tls.Certificate, v *Validator, log *slog.Logger) error {
	return admission.Serve(ctx, ln, cert, "validation webhook", ValidatePath, v, log)
}

func ptr[T any](v T) *T { return &v }
