// Package trustpub keeps the mesh's trust anchor in a ConfigMap of every namespace
// (xdsnames.RootCertConfigMap, key root-cert.pem), as Istio's namespace controller keeps
// istio-ca-root-cert: injected sidecars mount it to verify the control plane's TLS certificate
// before they have one of their own. A ConfigMap deleted or edited by hand is put back.
package trustpub

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// Publisher writes rootPEM to every namespace.
type Publisher struct {
	Client  kubernetes.Interface
	RootPEM []byte
	Log     *slog.Logger
}

// Run publishes until ctx ends.
func (p *Publisher) Run(ctx context.Context) error {
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	queue := make(chan string, 1024)
	enqueue := func(ns string) {
		select {
		case queue <- ns:
		default: // full: the periodic resync below catches up
		}
	}
	nsF := informers.NewSharedInformerFactory(p.Client, 10*time.Minute)
	cmF := informers.NewSharedInformerFactoryWithOptions(p.Client, 10*time.Minute, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", xdsnames.RootCertConfigMap).String()
	}))
	nsInf := nsF.Core().V1().Namespaces().Informer()
	cmInf := cmF.Core().V1().ConfigMaps().Informer()
	nsOf := func(obj any) string {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		switch o := obj.(type) {
		case *corev1.Namespace:
			return o.Name
		case *corev1.ConfigMap:
			return o.Namespace
		}
		return ""
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { enqueue(nsOf(o)) },
		UpdateFunc: func(_, o any) { enqueue(nsOf(o)) },
		DeleteFunc: func(o any) { enqueue(nsOf(o)) },
	}
	for _, inf := range []cache.SharedIndexInformer{nsInf, cmInf} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return fmt.Errorf("trustpub: %w", err)
		}
	}
	nsF.Start(ctx.Done())
	cmF.Start(ctx.Done())
	defer func() { nsF.Shutdown(); cmF.Shutdown() }()
	if !cache.WaitForCacheSync(ctx.Done(), nsInf.HasSynced, cmInf.HasSynced) {
		return nil // stopped before the first sync
	}
	lister := nsF.Core().V1().Namespaces().Lister()
	cms := cmF.Core().V1().ConfigMaps().Lister()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ns := <-queue:
			n, err := lister.Get(ns)
			if err != nil || n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating {
				continue
			}
			cm, err := cms.ConfigMaps(ns).Get(xdsnames.RootCertConfigMap)
			if err == nil && bytes.Equal([]byte(cm.Data[xdsnames.RootCertKey]), p.RootPEM) {
				continue
			}
			if err := p.write(ctx, ns, cm); err != nil && ctx.Err() == nil {
				log.Warn("trustpub: could not publish the mesh root", "namespace", ns, "err", err)
				go func() { // try again later rather than spin
					select {
					case <-ctx.Done():
					case <-time.After(5 * time.Second):
						enqueue(ns)
					}
				}()
			}
		}
	}
}

func (p *Publisher) write(ctx context.Context, ns string, existing *corev1.ConfigMap) error {
	want := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: xdsnames.RootCertConfigMap, Namespace: ns,
			Labels: map[string]string{"app.kubernetes.io/part-of": "meshlab"}},
		Data: map[string]string{xdsnames.RootCertKey: string(p.RootPEM)},
	}
	if existing == nil {
		_, err := p.Client.CoreV1().ConfigMaps(ns).Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil // the informer will show it and a later round compares it
		}
		return err
	}
	upd := existing.DeepCopy()
	upd.Data = want.Data
	_, err := p.Client.CoreV1().ConfigMaps(ns).Update(ctx, upd, metav1.UpdateOptions{})
	return err
}
