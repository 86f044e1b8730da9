package kube

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// DefaultInterval is how often a wait asks the API.
const DefaultInterval = 2 * time.Second

// WaitOptions bound and report a wait.
type WaitOptions struct {
	// Timeout ends the wait (0: only the context does).
	Timeout time.Duration
	// Interval between looks (default DefaultInterval).
	Interval time.Duration
	// Report receives "what: status" each time the status changes.
	Report func(line string)
	// Log, if set, gets a line when the wait starts and one per workload that is done.
	Log *slog.Logger
}

// poll calls check until it says done or the wait ends; the error then says what was awaited,
// for how long, and the last status seen.
func poll(ctx context.Context, o WaitOptions, what string, check func(ctx context.Context) (bool, string)) error {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	interval := o.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	start, last := time.Now(), ""
	err := wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		done, status := check(ctx)
		if !done && status != last && o.Report != nil {
			o.Report(what + ": " + status)
		}
		last = status
		return done, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s: gave up after %s; last seen: %s: %w", what, time.Since(start).Round(100*time.Millisecond), last, err)
	}
	return nil
}

// Workload is a Deployment, DaemonSet or StatefulSet whose rollout can be awaited.
type Workload struct{ Kind, Namespace, Name string }

func (w Workload) String() string { return w.Kind + " " + w.Namespace + "/" + w.Name }

// Workloads are the Deployments, DaemonSets and StatefulSets among objs, in their order.
func Workloads(objs []*unstructured.Unstructured) []Workload {
	var ws []Workload
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment", "DaemonSet", "StatefulSet":
			ws = append(ws, Workload{Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName()})
		}
	}
	return ws
}

const notSeen = "not seen yet"

// WaitRollouts waits until every workload has its latest spec rolled out: seen by its
// controller, every replica (or scheduled pod) updated and available.
func WaitRollouts(ctx context.Context, cs kubernetes.Interface, ws []Workload, o WaitOptions) error {
	pending := map[Workload]string{}
	for _, w := range ws {
		pending[w] = notSeen
	}
	what := fmt.Sprintf("%d rollouts", len(ws))
	if len(ws) == 1 {
		what = ws[0].String() + " to roll out"
	}
	if o.Log != nil {
		o.Log.Info("waiting for rollouts", "workloads", ws)
	}
	return poll(ctx, o, what, func(ctx context.Context) (bool, string) {
		for _, w := range slices.SortedFunc(maps.Keys(pending), byName) {
			done, status, err := RolloutStatus(ctx, cs, w)
			switch {
			case err != nil:
				// An API error says why only while nothing better is known: once a status was
				// seen it stays the reason, so a wait cut short by its deadline (or by the
				// client's rate limiter near it) still names what the rollout was stuck on.
				if pending[w] == notSeen && ctx.Err() == nil {
					pending[w] = err.Error()
				}
			case done:
				delete(pending, w)
				if o.Log != nil {
					o.Log.Info("rolled out", "workload", w.String())
				}
			default:
				pending[w] = status
			}
		}
		if len(ws) == 1 {
			return len(pending) == 0, pending[ws[0]]
		}
		var s []string
		for _, w := range slices.SortedFunc(maps.Keys(pending), byName) {
			s = append(s, w.String()+": "+pending[w])
		}
		return len(pending) == 0, strings.Join(s, "; ")
	})
}

func byName(a, b Workload) int { return strings.Compare(a.String(), b.String()) }

// RolloutStatus reads a workload once: whether its rollout is done, and if not, what it waits
// for.
func RolloutStatus(ctx context.Context, cs kubernetes.Interface, w Workload) (done bool, status string, err error) {
	apps := cs.AppsV1()
	switch w.Kind {
	case "Deployment":
		d, err := apps.Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		done, status = DeploymentStatus(d)
	case "DaemonSet":
		d, err := apps.DaemonSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		done, status = DaemonSetStatus(d)
	case "StatefulSet":
		s, err := apps.StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		done, status = StatefulSetStatus(s)
	default:
		return false, "", fmt.Errorf("%s: cannot wait for the rollout of a %s", w, w.Kind)
	}
	return done, status, nil
}

const notObserved = "controller has not seen the latest spec"

// DeploymentStatus says whether a Deployment is rolled out: its controller saw the latest spec
// and every replica is updated and available. A stalled rollout (Progressing=False) is named.
func DeploymentStatus(d *appsv1.Deployment) (bool, string) {
	want := replicas(d.Spec.Replicas)
	s := d.Status
	var status string
	switch {
	case s.ObservedGeneration < d.Generation:
		status = notObserved
	case s.UpdatedReplicas < want:
		status = fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want)
	case s.AvailableReplicas < want:
		status = fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, want)
	default:
		return true, ""
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse {
			status += " (" + c.Reason + ": " + c.Message + ")"
		}
	}
	return false, status
}

// DaemonSetStatus says whether a DaemonSet is rolled out on every node it is scheduled to.
func DaemonSetStatus(d *appsv1.DaemonSet) (bool, string) {
	s := d.Status
	switch {
	case s.ObservedGeneration < d.Generation:
		return false, notObserved
	case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
		return false, fmt.Sprintf("%d of %d pods updated", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
	case s.NumberAvailable < s.DesiredNumberScheduled:
		return false, fmt.Sprintf("%d of %d pods available", s.NumberAvailable, s.DesiredNumberScheduled)
	}
	return true, ""
}

// StatefulSetStatus says whether a StatefulSet is rolled out: every replica ready, and those
// above a rolling update's partition updated.
func StatefulSetStatus(st *appsv1.StatefulSet) (bool, string) {
	want := replicas(st.Spec.Replicas)
	s := st.Status
	wantUpdated := want
	if ru := st.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		wantUpdated = max(0, want-*ru.Partition)
	}
	switch {
	case s.ObservedGeneration < st.Generation:
		return false, notObserved
	case s.UpdatedReplicas < wantUpdated:
		return false, fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, wantUpdated)
	case s.ReadyReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas ready", s.ReadyReplicas, want)
	case s.AvailableReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, want)
	}
	return true, ""
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// WaitNodesReady waits until at least want nodes exist and every node is Ready. API errors are
// a status, not the end: the API server restarts while a cluster comes up.
func WaitNodesReady(ctx context.Context, cs kubernetes.Interface, want int, o WaitOptions) error {
	what := fmt.Sprintf("%d node(s) to be Ready", want)
	return poll(ctx, o, what, func(ctx context.Context) (bool, string) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "API: " + err.Error()
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
		return len(ready) >= want && len(notReady) == 0, status
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
