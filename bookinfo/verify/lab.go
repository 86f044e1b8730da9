package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// Lab says where the things verify checks are. Empty URLs and nil clients skip their checks
// (with the reason in the table), so the same suite runs on a cluster and on the namespace mesh.
type Lab struct {
	Namespace string               // Bookinfo's namespace
	Kube      kubernetes.Interface // nil: the pod and control-plane checks are skipped
	// ControlPlaneNamespace and ControlPlaneSelector find the pilot pods.
	ControlPlaneNamespace, ControlPlaneSelector string
	Browser                                     Browser // productpage through the ingress gateway
	Router                                      Router  // nil: routing scenarios skipped
	PrometheusURL, TracingURL, GrafanaURL       string
	Dashboards                                  []Dashboard
	// Absent says, by addon (AddonTracing, AddonPrometheus, AddonGrafana), why the lab has none:
	// an error wrapping ErrNotInBundle when the offline bundle lacks its image, or a *SkipError
	// when the lab does not choose it. Its checks report that without probing. An addon not
	// named here is expected to answer; when it does not, its checks fail with the reason.
	Absent map[string]error
	HTTP   *http.Client
	// MutualTLS says the sidecars authenticate each other with workload certificates (a meshlab
	// cluster's always do), so that policies naming principals can match; without it those
	// steps of the security checks skip.
	MutualTLS bool
	// PodHTTP reads a path from a port of a pod (a sidecar's metrics and /certs); nil goes
	// through the apiserver's pod proxy with Kube.
	PodHTTP PodHTTP
}

// PodHTTP reads path from port of pod namespace/name.
type PodHTTP func(ctx context.Context, namespace, pod string, port int, path string) ([]byte, error)

// proxyGet is PodHTTP through the apiserver's pod proxy.
func proxyGet(kube kubernetes.Interface) PodHTTP {
	return func(ctx context.Context, namespace, pod string, port int, path string) ([]byte, error) {
		return kube.CoreV1().Pods(namespace).ProxyGet("http", pod, strconv.Itoa(port), path, nil).DoRaw(ctx)
	}
}

// Defaults of a meshlab lab.
const (
	DefaultControlPlaneNamespace = "meshlab-system"
	DefaultControlPlaneSelector  = "app=meshlab-pilot"
)

// Suite returns the checklist for l, categories in the order they depend on each other.
func Suite(l Lab) []Category {
	if l.ControlPlaneNamespace == "" {
		l.ControlPlaneNamespace = DefaultControlPlaneNamespace
	}
	if l.ControlPlaneSelector == "" {
		l.ControlPlaneSelector = DefaultControlPlaneSelector
	}
	a := newAPI(l.HTTP)
	skipIf := func(cond bool, why string, f CheckFunc) CheckFunc {
		if !cond {
			return f
		}
		return func(context.Context) (Observation, error) { return Observation{}, Skip("%s", why) }
	}
	noKube := l.Kube == nil
	if l.PodHTTP == nil && !noKube {
		l.PodHTTP = proxyGet(l.Kube)
	}
	gateway := backend{name: "the ingress gateway", url: l.Browser.BaseURL, kube: l.Kube}
	promB := backend{name: AddonPrometheus, url: l.PrometheusURL, kube: l.Kube, absent: l.Absent[AddonPrometheus]}
	tracingB := backend{name: AddonTracing, url: l.TracingURL, kube: l.Kube, absent: l.Absent[AddonTracing]}
	grafanaB := backend{name: AddonGrafana, url: l.GrafanaURL, kube: l.Kube, absent: l.Absent[AddonGrafana]}
	// Retry budgets: a check is retried only where the lab catches up by itself, and for as long
	// as that takes at most. A backend that does not answer (refused, no ready endpoint) is never
	// retried (see backend.check), nor is a workload with no pod at all.
	cluster := Category{Name: "cluster", Checkers: []Checker{{
		// 30 s: a pilot pod that is starting (image present, it serves in seconds).
		Name: "control-plane", Expected: "meshlab pilot pods ready", Fatal: true, Quick: true, Retry: 30 * time.Second,
		Hint: "kubectl -n " + l.ControlPlaneNamespace + " get pods -l " + l.ControlPlaneSelector + "; `meshlab mesh status`; reinstall with `meshlab up phase mesh`",
		Check: skipIf(noKube, "no cluster (namespace mesh)", func(ctx context.Context) (Observation, error) {
			return controlPlaneReady(l.Kube, l.ControlPlaneNamespace, l.ControlPlaneSelector)(ctx)
		}),
	}, {
		// 60 s: pods of a rollout becoming ready (a sidecar waits for its first config).
		Name: "pods-ready", Expected: "6 Bookinfo pods, each 2/2 Ready", Fatal: true, Quick: true, Retry: 60 * time.Second,
		Hint:  "kubectl -n " + l.Namespace + " get pods,deploy; a deployment at 0 replicas: kubectl scale --replicas=1; 1/2: the sidecar was not injected or is not ready (namespace label meshlab-injection=enabled)",
		Check: skipIf(noKube, "no cluster (namespace mesh)", func(ctx context.Context) (Observation, error) { return podsReady(l.Kube, l.Namespace)(ctx) }),
	}}}
	smoke := Category{Name: "bookinfo", Checkers: []Checker{{
		// 30 s: the gateway's routes for a Gateway applied moments ago.
		Name: "productpage", Expected: "200 with the Bookinfo page through the gateway", Fatal: true, Quick: true, Retry: 30 * time.Second,
		Hint:  "the ingress gateway (NodePort 30080) and its Gateway + VirtualService bookinfo-gateway; kubectl -n " + l.Namespace + " get gateway,virtualservice",
		Check: gateway.check(productpage(l.Browser)),
	}, {
		// 20 s: a reviews pod just ready reaches productpage's sidecar with the next push.
		Name: "all-versions", Expected: fmt.Sprintf("v1, v2 and v3 of reviews among %d pages", versionPages), Retry: 20 * time.Second,
		Hint:  "a reviews version is missing (scaled to zero, not ready) or a VirtualService pins reviews: kubectl -n " + l.Namespace + " get virtualservice,deploy",
		Check: allVersions(l.Browser),
	}}}
	routing := Category{Name: "routing"}
	for _, s := range Scenarios() {
		// Not retried: a scenario waits SettleTimeout for its routing to arrive (runScenario)
		// and takes fresh samples where chance is involved (Scenario.Attempts).
		routing.Checkers = append(routing.Checkers, Checker{
			Name: s.Name, Expected: s.Expected,
			Hint:  "the sample " + strings.Join(s.Samples, " + ") + " did not route as Istio documents: check the sidecars' routes (`meshlab mesh status`, :15021/config_dump)",
			Check: skipIf(l.Router == nil, "no router to apply samples with", func(ctx context.Context) (Observation, error) { return runScenario(ctx, l.Router, l.Browser, s) }),
		})
	}
	noPolicy := noKube || l.Router == nil
	security := Category{Name: "security", Checkers: []Checker{{
		// 60 s: a sidecar fetches its first certificate at start and exports a hop's series
		// after the first request over it; a policy change reaches every sidecar in one push.
		Name: "mtls-hops", Expected: "productpage→details, productpage→reviews, reviews→ratings over mutual TLS between the services' SPIFFE identities", Retry: 60 * time.Second,
		Hint: "the destination sidecars' istio_requests_total (connection_security_policy, source_principal); `meshlab mesh describe POD -n " + l.Namespace + "` shows a pod's certificate and mTLS in and out",
		Check: skipIf(noKube, "no cluster (namespace mesh)", func(ctx context.Context) (Observation, error) {
			return mtlsHops(l.Kube, l.PodHTTP, l.Namespace, l.Browser)(ctx)
		}),
	}, {
		Name: "strict-refuses-plaintext", Expected: "STRICT: a pod without a sidecar gets no answer from productpage's pod IP; the page still loads through the gateway",
		Hint: "`meshlab mesh describe` on productpage shows the inbound mode and the PeerAuthentications deciding it; kubectl -n " + l.Namespace + " get peerauthentication",
		Check: skipIf(noPolicy, "no cluster or no router to apply a PeerAuthentication with", func(ctx context.Context) (Observation, error) {
			return plaintextUnderPolicy(l.Kube, l.PodHTTP, l.Router, l.Namespace, l.ControlPlaneNamespace, l.ControlPlaneSelector, l.Browser, "STRICT", true)(ctx)
		}),
	}, {
		Name: "permissive-accepts-plaintext", Expected: "PERMISSIVE: the same plaintext request is answered",
		Hint: "PERMISSIVE takes mutual TLS and plaintext on one port, told apart by the first bytes",
		Check: skipIf(noPolicy, "no cluster or no router to apply a PeerAuthentication with", func(ctx context.Context) (Observation, error) {
			return plaintextUnderPolicy(l.Kube, l.PodHTTP, l.Router, l.Namespace, l.ControlPlaneNamespace, l.ControlPlaneSelector, l.Browser, "PERMISSIVE", false)(ctx)
		}),
	}}}
	noProm := l.PrometheusURL == ""
	prom := Category{Name: "prometheus", Checkers: []Checker{{
		// 20 s: Prometheus answering 503 while it replays its write-ahead log after a restart.
		Name: "ready", Expected: "GET /-/ready 200", Quick: true, Retry: 20 * time.Second,
		Hint:  "kubectl -n meshlab-system get pods -l app=prometheus; the NodePort 30003; `meshlab addons install`",
		Check: skipIf(noProm, "no Prometheus URL", promB.check(prometheusReady(a, l.PrometheusURL))),
	}, {
		// 60 s: service discovery finds a new pod within its refresh, then the first scrape.
		Name: "sidecar-targets", Expected: "every Bookinfo pod scraped, health up", Retry: 60 * time.Second,
		Hint:  "pods need prometheus.io/scrape annotations (the injector sets them); Prometheus' /targets page shows lastError",
		Check: skipIf(noProm, "no Prometheus URL", promB.check(sidecarTargets(a, l.PrometheusURL, l.Namespace))),
	}, {
		// 60 s: a series appears after the first scrape that follows the first request.
		Name: "request-series", Expected: "istio_requests_total for details, productpage, ratings, reviews", Retry: 60 * time.Second,
		Hint:  "sidecars export istio_requests_total on :15090; a service without series got no traffic or is not scraped",
		Check: skipIf(noProm, "no Prometheus URL", promB.check(requestSeries(a, l.PrometheusURL, l.Namespace, l.Browser))),
	}}}
	tracing := Category{Name: "tracing", Checkers: []Checker{{
		// 60 s: sidecars report spans in batches; the backend indexes them before it finds them.
		Name: "trace", Expected: "a trace with productpage→details, productpage→reviews, reviews→ratings", Retry: 60 * time.Second,
		Hint:  "the mesh's tracing must point at the backend's Zipkin endpoint (:9411/api/v2/spans); sampling must be on",
		Check: skipIf(l.TracingURL == "", "no tracing URL", tracingB.check(traceComplete(a, l.TracingURL, l.Namespace, l.Browser))),
	}}}
	grafana := Category{Name: "grafana", Checkers: []Checker{{
		// 20 s: Grafana migrating its database on first start.
		Name: "health", Expected: "GET /api/health database ok", Quick: true, Retry: 20 * time.Second,
		Hint:  "kubectl -n meshlab-system get pods -l app=grafana; the NodePort 30002",
		Check: skipIf(l.GrafanaURL == "", "no Grafana URL", grafanaB.check(grafanaHealthy(a, l.GrafanaURL))),
	}, {
		// 20 s: dashboards provisioned from files after Grafana starts.
		Name: "dashboards", Expected: fmt.Sprintf("the %d meshlab dashboards listed", len(l.Dashboards)), Retry: 20 * time.Second,
		Hint:  "dashboards are provisioned from the grafana chart's ConfigMap; `meshlab addons install` re-creates it",
		Check: skipIf(l.GrafanaURL == "", "no Grafana URL", grafanaB.check(grafanaDashboards(a, l.GrafanaURL, l.Dashboards))),
	}}}
	for _, d := range l.Dashboards {
		// 60 s: rate() needs two scrapes of recent traffic inside its window.
		grafana.Checkers = append(grafana.Checkers, Checker{
			Name: "queries: " + d.Title, Expected: "every panel query returns data from Prometheus", Retry: 60 * time.Second,
			Hint:  "run the query in Prometheus' UI; an empty panel means a metric or label the sidecars or pilot do not export",
			Check: skipIf(noProm, "no Prometheus URL", promB.check(dashboardQueries(a, l.PrometheusURL, d))),
		})
	}
	// Istio's authorization task and the JWT check, after the mutual TLS checks.
	security.Checkers = append(security.Checkers, authorizationCheckers(l, skipIf)...)
	return []Category{cluster, smoke, routing, security, prom, tracing, grafana}
}

func productpage(b Browser) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		p, err := b.Get(ctx, nil)
		if err != nil {
			if p.Status != 0 {
				return Observation{Observed: fmt.Sprintf("HTTP %d", p.Status)}, err
			}
			return Observation{Observed: "no answer"}, err
		}
		o := Observation{Observed: fmt.Sprintf("HTTP 200 in %dms", p.Elapsed.Milliseconds())}
		for _, want := range []string{TitleMarker, "Book Details", "Book Reviews"} {
			if !strings.Contains(p.Body, want) {
				return o, fmt.Errorf("the page lacks %q", want)
			}
		}
		return o, nil
	}
}

// versionPages is how many pages all-versions looks at. Without routing the mesh balances
// reviews evenly over its three versions, so a healthy lab misses one by chance with
// chance.SomeNeverSeen(30, 3) ≈ 1.6e-5 per attempt (TestStatedChances), and the check retries.
const versionPages = 30

func allVersions(b Browser) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		c, err := b.Count(ctx, nil, versionPages)
		o := Observation{Observed: formatCounts(c)}
		if err != nil {
			return o, err
		}
		var missing []string
		for _, v := range []string{"v1", "v2", "v3"} {
			if c[v] == 0 {
				missing = append(missing, v)
			}
		}
		if len(missing) > 0 {
			return o, errors.New("no page from reviews " + strings.Join(missing, ", "))
		}
		return o, nil
	}
}
