// Package wait waits on a cluster through client-go: nodes Ready, a Deployment available. Every
// wait polls with the caller's deadline, reports what it is waiting for whenever that changes,
// and on timeout says what was still missing.
package wait

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultInterval is how often the API is asked.
const DefaultInterval = 2 * time.Second

// Options tune a wait. Report receives a line saying what is awaited each time it changes.
type Options struct {
	Interval time.Duration
	Report   func(what string)
}

func (o Options) interval() time.Duration {
	if o.Interval > 0 {
		return o.Interval
	}
	return DefaultInterval
}

// poll calls check until it reports done, the context ends, or it returns an error that is
// not transient. check returns a status line (what is still missing).
func poll(ctx context.Context, o Options, what string, check func(ctx context.Context) (bool, string, error)) error {
	last := ""
	tick := time.NewTicker(o.interval())
	defer tick.Stop()
	for {
		done, status, err := check(ctx)
		if err != nil {
			// The API server restarts during bring-up; an error is a status, not the end.
			status = "API: " + err.Error()
		}
		if done {
			return nil
		}
		if status != last && o.Report != nil {
			o.Report(what + ": " + status)
		}
		last = status
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %s: %w", what, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// NodesReady waits until at least want nodes exist and every node is Ready.
func NodesReady(ctx context.Context, c kubernetes.Interface, want int, o Options) error {
	what := fmt.Sprintf("%d node(s) to be Ready", want)
	return poll(ctx, o, what, func(ctx context.Context) (bool, string, error) {
		nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		var ready, notReady []string
		for _, n := range nodes.Items {
			if ok, why := nodeReady(n); ok {
				ready = append(ready, n.Name)
			} else {
				notReady = append(notReady, n.Name+" ("+why+")")
			}
		}
		sort.Strings(ready)
		sort.Strings(notReady)
		status := fmt.Sprintf("%d of %d Ready", len(ready), want)
		if len(ready) > 0 {
			status += " [" + strings.Join(ready, ", ") + "]"
		}
		if len(notReady) > 0 {
			status += "; not Ready: " + strings.Join(notReady, "; ")
		}
		if missing := want - len(nodes.Items); missing > 0 {
			status += fmt.Sprintf("; %d not registered yet", missing)
		}
		return len(ready) >= want && len(notReady) == 0, status, nil
	})
}

func nodeReady(n corev1.Node) (bool, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return true, ""
			}
			why := c.Reason
			if c.Message != "" {
				why += ": " + c.Message
			}
			return false, why
		}
	}
	return false, "no Ready condition yet"
}

// DeploymentAvailable waits until the Deployment reports the Available condition and all of
// its replicas are updated and available.
func DeploymentAvailable(ctx context.Context, c kubernetes.Interface, namespace, name string, o Options) error {
	what := fmt.Sprintf("deployment %s/%s to be available", namespace, name)
	return poll(ctx, o, what, func(ctx context.Context) (bool, string, error) {
		d, err := c.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return deploymentStatus(d)
	})
}

func deploymentStatus(d *appsv1.Deployment) (bool, string, error) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	status := fmt.Sprintf("%d of %d replicas available, %d updated", s.AvailableReplicas, want, s.UpdatedReplicas)
	available := false
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			available = true
		}
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse {
			return false, status, errors.New(c.Reason + ": " + c.Message)
		}
	}
	done := available && s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want
	return done, status, nil
}
