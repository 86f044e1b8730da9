package inject

import (
	"errors"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Namespace labels that turn injection on; pod-level keys that turn it off.
const (
	NamespaceLabel      = "meshlab-injection"
	IstioNamespaceLabel = "istio-injection"
	NamespaceEnabled    = "enabled"
)

// WebhookConfig describes where the webhook runs, for the MutatingWebhookConfiguration.
type WebhookConfig struct {
	Name             string // object name; default "meshlab-sidecar-injector"
	ServiceName      string // the Service in front of the webhook server
	ServiceNamespace string // also excluded from injection, see below
	ServicePort      int32  // default 443
	CABundle         []byte // PEM of the CA that signed the serving certificate (ca.CA.CertPEM)
	TimeoutSeconds   int32  // default 10
	// URL, when set, replaces the Service reference (clientConfig.url): for an apiserver that
	// reaches the webhook directly, e.g. a test apiserver and webhook both on loopback.
	URL string
}

// MutatingWebhookConfiguration renders the registration. The choices, and why:
//
//   - failurePolicy Fail (as Istio): if the injector is down, pods in injected namespaces are
//     refused and their controllers retry, instead of silently starting without a proxy and
//     escaping routing, telemetry and (later) mTLS. The blast radius is kept small by the
//     selectors: only labelled namespaces, never kube-system, kube-public, kube-node-lease or
//     the control plane's own namespace (so the injector can always restart), and pods that
//     opt out by label are not even sent.
//   - Two webhooks because a selector cannot OR two labels: one for meshlab-injection=enabled,
//     one for istio-injection=enabled where meshlab-injection is absent (never both for one pod).
//   - reinvocationPolicy Never: injection is idempotent (the status annotation) and does not
//     depend on what later webhooks add, so being called again could only cost latency.
//   - sideEffects None (dry-run requests are safe), matchPolicy Equivalent, CREATE of pods only.
//   - timeoutSeconds 10: injection is microseconds of CPU; a slow answer means a sick server, and
//     the apiserver's own request timeout must not be eaten by waiting for it.
func MutatingWebhookConfiguration(c WebhookConfig) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	if c.URL == "" && (c.ServiceName == "" || c.ServiceNamespace == "") {
		return nil, errors.New("webhook configuration: service name and namespace (or a URL) are required")
	}
	if len(c.CABundle) == 0 {
		return nil, errors.New("webhook configuration: the CA bundle is empty (the apiserver could not verify the webhook)")
	}
	if c.Name == "" {
		c.Name = "meshlab-sidecar-injector"
	}
	if c.ServicePort == 0 {
		c.ServicePort = 443
	}
	if c.TimeoutSeconds == 0 {
		c.TimeoutSeconds = 10
	}
	systemNamespaces := []string{"kube-system", "kube-public", "kube-node-lease"}
	if c.ServiceNamespace != "" {
		systemNamespaces = append(systemNamespaces, c.ServiceNamespace)
	}
	optOut := metav1.LabelSelectorRequirement{Key: InjectKey, Operator: metav1.LabelSelectorOpNotIn,
		Values: []string{"false", "disabled"}}
	istioOptOut := metav1.LabelSelectorRequirement{Key: IstioInjectKey, Operator: metav1.LabelSelectorOpNotIn,
		Values: []string{"false"}}
	hook := func(name string, ns ...metav1.LabelSelectorRequirement) admissionregistrationv1.MutatingWebhook {
		ns = append(ns, metav1.LabelSelectorRequirement{Key: "kubernetes.io/metadata.name",
			Operator: metav1.LabelSelectorOpNotIn, Values: systemNamespaces})
		client := admissionregistrationv1.WebhookClientConfig{CABundle: c.CABundle}
		if c.URL != "" {
			client.URL = ptr(c.URL)
		} else {
			client.Service = &admissionregistrationv1.ServiceReference{
				Name: c.ServiceName, Namespace: c.ServiceNamespace,
				Path: ptr(WebhookPath), Port: ptr(c.ServicePort),
			}
		}
		return admissionregistrationv1.MutatingWebhook{
			Name:         name,
			ClientConfig: client,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"},
					Resources: []string{"pods"}, Scope: ptr(admissionregistrationv1.NamespacedScope)},
			}},
			FailurePolicy:           ptr(admissionregistrationv1.Fail),
			MatchPolicy:             ptr(admissionregistrationv1.Equivalent),
			NamespaceSelector:       &metav1.LabelSelector{MatchExpressions: ns},
			ObjectSelector:          &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{optOut, istioOptOut}},
			SideEffects:             ptr(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr(c.TimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr(admissionregistrationv1.NeverReinvocationPolicy),
		}
	}
	enabled := []string{NamespaceEnabled}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: c.Name, Labels: map[string]string{"app.kubernetes.io/part-of": "meshlab"}},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			hook("namespace.sidecar-injector.meshlab.dev",
				metav1.LabelSelectorRequirement{Key: NamespaceLabel, Operator: metav1.LabelSelectorOpIn, Values: enabled}),
			hook("istio-namespace.sidecar-injector.meshlab.dev",
				metav1.LabelSelectorRequirement{Key: IstioNamespaceLabel, Operator: metav1.LabelSelectorOpIn, Values: enabled},
				metav1.LabelSelectorRequirement{Key: NamespaceLabel, Operator: metav1.LabelSelectorOpDoesNotExist}),
		},
	}, nil
}
