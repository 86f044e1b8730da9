package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// FieldManager owns the fields meshlab applies (server-side apply).
const FieldManager = "meshlab"

// resources maps the kinds Bookinfo, its routing samples and the ingress gateway use to their API resources. A fixed
// table (not discovery) because the set is closed and known; an unknown kind is an error.
var resources = map[string]schema.GroupVersionResource{
	"v1/Namespace":                                    {Version: "v1", Resource: "namespaces"},
	"v1/Service":                                      {Version: "v1", Resource: "services"},
	"v1/ServiceAccount":                               {Version: "v1", Resource: "serviceaccounts"},
	"apps/v1/Deployment":                              {Group: "apps", Version: "v1", Resource: "deployments"},
	"networking.istio.io/v1/Gateway":                  {Group: "networking.istio.io", Version: "v1", Resource: "gateways"},
	"security.istio.io/v1/AuthorizationPolicy":        {Group: "security.istio.io", Version: "v1", Resource: "authorizationpolicies"},
	"security.istio.io/v1/RequestAuthentication":      {Group: "security.istio.io", Version: "v1", Resource: "requestauthentications"},
	"networking.istio.io/v1/VirtualService":           {Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
	"networking.istio.io/v1/DestinationRule":          {Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"},
	"networking.istio.io/v1beta1/Gateway":             {Group: "networking.istio.io", Version: "v1beta1", Resource: "gateways"},
	"networking.istio.io/v1alpha3/Gateway":            {Group: "networking.istio.io", Version: "v1alpha3", Resource: "gateways"},
	"rbac.authorization.k8s.io/v1/ClusterRole":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	"networking.istio.io/v1beta1/VirtualService":      {Group: "networking.istio.io", Version: "v1beta1", Resource: "virtualservices"},
}

// Resource returns the API resource of obj's kind.
func Resource(obj *unstructured.Unstructured) (schema.GroupVersionResource, error) {
	gvr, ok := resources[obj.GetAPIVersion()+"/"+obj.GetKind()]
	if !ok {
		return gvr, fmt.Errorf("deploy: %s: kind %s %s is not one meshlab applies", describe(obj), obj.GetAPIVersion(), obj.GetKind())
	}
	return gvr, nil
}

// Client applies and deletes objects and waits for rollouts.
type Client struct {
	Dynamic dynamic.Interface
	Kube    kubernetes.Interface
	Log     *slog.Logger // nil: slog.Default()
	// Poll is how often rollouts are checked (default 2s).
	Poll time.Duration
}

func (c *Client) log() *slog.Logger {
	if c.Log == nil {
		return slog.Default()
	}
	return c.Log
}

func (c *Client) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvr, err := Resource(obj)
	if err != nil {
		return nil, err
	}
	if obj.GetNamespace() == "" {
		return c.Dynamic.Resource(gvr), nil
	}
	return c.Dynamic.Resource(gvr).Namespace(obj.GetNamespace()), nil
}

// Apply server-side applies each object in order (force: meshlab owns what it applies).
func (c *Client) Apply(ctx context.Context, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		ri, err := c.resource(o)
		if err != nil {
			return err
		}
		data, err := json.Marshal(o.Object)
		if err != nil {
			return fmt.Errorf("deploy: encode %s: %w", describe(o), err)
		}
		_, err = ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: FieldManager, Force: new(true)})
		if err != nil {
			return fmt.Errorf("deploy: apply %s: %w", describe(o), err)
		}
		c.log().Debug("applied", "object", describe(o))
	}
	return nil
}

// Delete removes objects in reverse order; objects already gone are fine.
func (c *Client) Delete(ctx context.Context, objs []*unstructured.Unstructured) error {
	for _, o := range slices.Backward(objs) {
		ri, err := c.resource(o)
		if err != nil {
			return err
		}
		err = ri.Delete(ctx, o.GetName(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deploy: delete %s: %w", describe(o), err)
		}
	}
	return nil
}

// WaitRollouts polls until every named Deployment in namespace has all replicas updated and
// available, or ctx ends; the error then names the Deployments still waited for and why.
func (c *Client) WaitRollouts(ctx context.Context, namespace string, names []string) error {
	poll := c.Poll
	if poll == 0 {
		poll = 2 * time.Second
	}
	pending := map[string]string{}
	for _, n := range names {
		pending[n] = "not seen yet"
	}
	c.log().Info("waiting for rollouts", "namespace", namespace, "deployments", names)
	err := wait.PollUntilContextCancel(ctx, poll, true, func(ctx context.Context) (bool, error) {
		for name := range pending {
			d, err := c.Kube.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				// An API error says why only while nothing better is known: once a status was
				// seen it stays the reason, so a wait cut short by its deadline (or by the
				// client's rate limiter near it) still names what the rollout was stuck on.
				if pending[name] == "not seen yet" && ctx.Err() == nil {
					pending[name] = err.Error()
				}
				continue
			}
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			s := d.Status
			switch {
			case s.ObservedGeneration < d.Generation:
				pending[name] = "controller has not seen the latest spec"
			case s.UpdatedReplicas < want:
				pending[name] = fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want)
			case s.AvailableReplicas < want:
				pending[name] = fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, want)
			default:
				delete(pending, name)
				c.log().Info("rolled out", "deployment", namespace+"/"+name)
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("deploy: rollouts in %s not complete: %s: %w", namespace, summarize(pending), err)
	}
	return nil
}

func summarize(pending map[string]string) string {
	var s string
	for _, n := range slices.Sorted(maps.Keys(pending)) {
		if s != "" {
			s += "; "
		}
		s += n + ": " + pending[n]
	}
	return s
}
