// Package kubereg is the control plane's Kubernetes registry: client-go informers on Services,
// EndpointSlices, Pods, Namespaces, VirtualServices, DestinationRules and the legacy RouteRule,
// turned into one model.State after every change.
package kubereg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	istioinformers "istio.io/client-go/pkg/informers/externalversions"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/crds"
	"github.com/meshlab/meshlab/mesh/pilot/model"
	"github.com/meshlab/meshlab/mesh/spiffe"
)

var _ model.Registry = (*Registry)(nil)

// Options tune a Registry. The zero value watches every namespace.
type Options struct {
	// NamespaceSelector, when set, limits the mesh to namespaces whose labels match (Istio's
	// discoverySelectors): Services, endpoints and routing elsewhere are not in the State.
	NamespaceSelector labels.Selector
	// Log receives sync progress and resources left out of the State; default: discarded.
	Log *slog.Logger
	// SyncTimeout bounds the wait for the first full list of every resource; default 2 min.
	SyncTimeout time.Duration
	// TrustDomain names endpoints' identities (spiffe://TD/ns/NS/sa/SA); default cluster.local.
	TrustDomain string
	// Credentials watches Secrets for the TLS credentials DestinationRules name with
	// credentialName (the control plane serves them over SDS); it needs RBAC on secrets.
	Credentials bool
}

// Registry implements model.Registry against a Kubernetes apiserver.
type Registry struct {
	core    kubernetes.Interface
	istio   istioclient.Interface
	dynamic dynamic.Interface
	opts    Options
	// good keeps the last valid version of each policy, so a policy updated past the webhook into
	// something the proxy cannot apply keeps its last good form (security.go).
	good policyMemory
}

// New builds a Registry from a rest.Config (in-cluster or a kubeconfig).
func New(cfg *rest.Config, opts Options) (*Registry, error) {
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube registry: core client: %w", err)
	}
	ic, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube registry: istio client: %w", err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube registry: dynamic client: %w", err)
	}
	return NewFromClients(core, ic, dc, opts), nil
}

// NewFromClients builds a Registry from existing clients (tests, shared clients).
func NewFromClients(core kubernetes.Interface, ic istioclient.Interface, dc dynamic.Interface, opts Options) *Registry {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.SyncTimeout == 0 {
		opts.SyncTimeout = 2 * time.Minute
	}
	if opts.TrustDomain == "" {
		opts.TrustDomain = spiffe.DefaultTrustDomain
	}
	return &Registry{core: core, istio: ic, dynamic: dc, opts: opts}
}

// listers are the informers' caches, read when a State is built.
type listers struct {
	services   cache.GenericLister
	slices     cache.GenericLister
	pods       cache.GenericLister
	namespaces cache.GenericLister
	vss        cache.GenericLister
	drs        cache.GenericLister
	rrs        cache.GenericLister // nil when RouteRules are not served
	pas        cache.GenericLister // nil when PeerAuthentications are not served
	secrets    cache.GenericLister // nil unless Options.Credentials
	aps, ras   cache.GenericLister // nil when the security CRDs are not served
}

// Run watches until ctx ends. It pushes a State once every informer has synced and after each
// change; events arriving while a State is being built coalesce into one more push.
func (r *Registry) Run(ctx context.Context, push func(model.State)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed := make(chan struct{}, 1)
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { signal(changed) },
		UpdateFunc: func(any, any) { signal(changed) },
		DeleteFunc: func(any) { signal(changed) },
	}
	strip := informers.WithTransform(stripManagedFields)
	coreF := informers.NewSharedInformerFactoryWithOptions(r.core, 0, strip)
	istioF := istioinformers.NewSharedInformerFactoryWithOptions(r.istio, 0, istioinformers.WithTransform(stripManagedFields))
	dynF := dynamicinformer.NewDynamicSharedInformerFactory(r.dynamic, 0)

	var l listers
	var synced []cache.InformerSynced
	add := func(inf cache.SharedIndexInformer, res string) (cache.GenericLister, error) {
		synced = append(synced, inf.HasSynced)
		if _, err := inf.AddEventHandler(notify); err != nil {
			return nil, fmt.Errorf("kube registry: watch %s: %w", res, err)
		}
		return cache.NewGenericLister(inf.GetIndexer(), schema.GroupResource{Resource: res}), nil
	}
	var errs []error
	collect := func(gl cache.GenericLister, err error) cache.GenericLister {
		errs = append(errs, err)
		return gl
	}
	l.services = collect(add(coreF.Core().V1().Services().Informer(), "services"))
	l.slices = collect(add(coreF.Discovery().V1().EndpointSlices().Informer(), "endpointslices"))
	l.pods = collect(add(coreF.Core().V1().Pods().Informer(), "pods"))
	l.namespaces = collect(add(coreF.Core().V1().Namespaces().Informer(), "namespaces"))
	if err := r.requireServed(crds.VirtualServices, crds.DestinationRules); err != nil {
		return err
	}
	l.vss = collect(add(istioF.Networking().V1().VirtualServices().Informer(), "virtualservices"))
	l.drs = collect(add(istioF.Networking().V1().DestinationRules().Informer(), "destinationrules"))
	if err := r.requireServed(crds.PeerAuthentications); err != nil {
		// A cluster whose CRDs predate mutual TLS still routes; every workload is PERMISSIVE.
		r.opts.Log.Warn("PeerAuthentications are not served; every workload accepts mTLS and plaintext until restart", "err", err)
	} else {
		l.pas = collect(add(istioF.Security().V1().PeerAuthentications().Informer(), "peerauthentications"))
	}
	if r.opts.Credentials {
		sf := informers.NewSharedInformerFactoryWithOptions(r.core, 0, informers.WithTransform(credentialsOnly))
		l.secrets = collect(add(sf.Core().V1().Secrets().Informer(), "secrets"))
		defer sf.Shutdown()
		sf.Start(ctx.Done())
	}
	if err := r.requireServed(crds.RouteRules); err != nil {
		// The legacy API is optional: a cluster with only Istio's CRDs still works.
		r.opts.Log.Warn("RouteRules are not served; legacy route rules are ignored until restart", "err", err)
	} else {
		l.rrs = collect(add(dynF.ForResource(crds.RouteRules).Informer(), "routerules"))
	}
	if err := r.requireServed(crds.AuthorizationPolicies, crds.RequestAuthentications); err != nil {
		r.opts.Log.Warn("security policies are not served; no AuthorizationPolicy or RequestAuthentication applies until restart", "err", err)
	} else {
		l.aps = collect(add(istioF.Security().V1().AuthorizationPolicies().Informer(), "authorizationpolicies"))
		l.ras = collect(add(istioF.Security().V1().RequestAuthentications().Informer(), "requestauthentications"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	coreF.Start(ctx.Done())
	istioF.Start(ctx.Done())
	dynF.Start(ctx.Done())
	defer func() { cancel(); coreF.Shutdown(); istioF.Shutdown(); dynF.Shutdown() }()

	if err := r.waitSynced(ctx, synced); err != nil {
		if ctx.Err() != nil {
			return nil // stopped by the caller before the first sync
		}
		return err
	}
	r.opts.Log.Info("kube registry synced")
	logged := map[string]bool{}
	for {
		st, problems := r.state(l)
		logged = r.logNew(problems, logged)
		push(st)
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a push is already pending; it will see this change too
	}
}

// requireServed fails with the install hint when the apiserver does not serve a CRD.
func (r *Registry) requireServed(gvrs ...schema.GroupVersionResource) error {
	for _, gvr := range gvrs {
		list, err := r.core.Discovery().ServerResourcesForGroupVersion(gvr.GroupVersion().String())
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("kube registry: discover %s: %w", gvr.GroupVersion(), err)
		}
		found := false
		if list != nil {
			for _, res := range list.APIResources {
				found = found || res.Name == gvr.Resource
			}
		}
		if !found {
			return fmt.Errorf("kube registry: %s is not served (CRDs missing: run meshlab mesh install)", gvr.GroupResource())
		}
	}
	return nil
}

// waitSynced waits for the first full list of every informer, within SyncTimeout.
func (r *Registry) waitSynced(ctx context.Context, synced []cache.InformerSynced) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.SyncTimeout)
	defer cancel()
	if cache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("kube registry: resources not listed within %s (RBAC? apiserver reachable?)", r.opts.SyncTimeout)
	}
	return fmt.Errorf("kube registry: initial sync interrupted: %w", ctx.Err())
}

// state reads the caches into a new State. Objects are shared with the cache, which never
// mutates them (an update replaces the pointer), so the State is safe to keep.
func (r *Registry) state(l listers) (model.State, []Problem) {
	inMesh := r.namespaceFilter(l.namespaces)
	var objs Objects
	for _, o := range list(l.services) {
		if s, ok := o.(*corev1.Service); ok && inMesh(s.Namespace) {
			objs.Services = append(objs.Services, s)
		}
	}
	for _, o := range list(l.slices) {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok && inMesh(s.Namespace) {
			objs.EndpointSlices = append(objs.EndpointSlices, s)
		}
	}
	for _, o := range list(l.pods) {
		if p, ok := o.(*corev1.Pod); ok && inMesh(p.Namespace) {
			objs.Pods = append(objs.Pods, p)
		}
	}
	var vss []*networkingv1.VirtualService
	for _, o := range list(l.vss) {
		if v, ok := o.(*networkingv1.VirtualService); ok && inMesh(v.Namespace) {
			vss = append(vss, v)
		}
	}
	var drs []*networkingv1.DestinationRule
	for _, o := range list(l.drs) {
		if d, ok := o.(*networkingv1.DestinationRule); ok && inMesh(d.Namespace) {
			drs = append(drs, d)
		}
	}
	var rrs []*unstructured.Unstructured
	if l.rrs != nil {
		for _, o := range list(l.rrs) {
			if u, ok := o.(*unstructured.Unstructured); ok && inMesh(u.GetNamespace()) {
				rrs = append(rrs, u)
			}
		}
	}
	byIP := pods(objs.Pods)
	st := model.State{Services: services(objs, byIP, r.opts.TrustDomain), Pods: byIP}
	var problems []Problem
	st.VirtualServices, st.DestinationRules, problems = routing(vss, drs, rrs)
	if l.secrets != nil {
		st.Credentials = credentials(st.DestinationRules, l.secrets)
	}
	if l.pas != nil {
		var pas []*securityv1.PeerAuthentication
		for _, o := range list(l.pas) {
			if p, ok := o.(*securityv1.PeerAuthentication); ok && (inMesh(p.Namespace) || p.Namespace == config.RootNamespace) {
				pas = append(pas, p)
			}
		}
		var paProblems []Problem
		st.PeerAuthentications, paProblems = peerAuthentications(pas)
		problems = append(problems, paProblems...)
	}
	if l.aps != nil {
		var aps []*securityv1.AuthorizationPolicy
		for _, o := range list(l.aps) {
			if p, ok := o.(*securityv1.AuthorizationPolicy); ok && (inMesh(p.Namespace) || p.Namespace == config.RootNamespace) {
				aps = append(aps, p)
			}
		}
		var ras []*securityv1.RequestAuthentication
		for _, o := range list(l.ras) {
			if ra, ok := o.(*securityv1.RequestAuthentication); ok && (inMesh(ra.Namespace) || ra.Namespace == config.RootNamespace) {
				ras = append(ras, ra)
			}
		}
		st.AuthorizationPolicies, st.RequestAuthentications, st.Rejected = r.good.security(aps, ras)
	}
	return st, problems
}

// logNew logs each problem once, not on every push, and returns the set now current.
func (r *Registry) logNew(problems []Problem, logged map[string]bool) map[string]bool {
	now := make(map[string]bool, len(problems))
	for _, p := range problems {
		msg := p.Resource + ": " + p.Err.Error()
		now[msg] = true
		if !logged[msg] {
			r.opts.Log.Warn("left out of the mesh config", "resource", p.Resource, "err", p.Err)
		}
	}
	return now
}

// namespaceFilter answers "is this namespace in the mesh" from the namespace cache.
func (r *Registry) namespaceFilter(nsl cache.GenericLister) func(string) bool {
	if r.opts.NamespaceSelector == nil || r.opts.NamespaceSelector.Empty() {
		return func(string) bool { return true }
	}
	in := map[string]bool{}
	for _, o := range list(nsl) {
		if ns, ok := o.(*corev1.Namespace); ok && r.opts.NamespaceSelector.Matches(labels.Set(ns.Labels)) {
			in[ns.Name] = true
		}
	}
	return func(ns string) bool { return in[ns] }
}

func list(l cache.GenericLister) []any {
	objs, _ := l.List(labels.Everything()) // a cache list cannot fail
	out := make([]any, len(objs))
	for i, o := range objs {
		out[i] = o
	}
	return out
}

// stripManagedFields drops server-side-apply bookkeeping before objects enter the cache: it is
// often the larger part of an object and the registry never reads it.
func stripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}
