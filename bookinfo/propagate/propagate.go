// Package propagate holds the header lists that Bookinfo's services copy from an incoming request
// to their outgoing calls. Tracing only works in a mesh when every hop forwards these headers: the
// sidecars create spans, but only the application can link an inbound request to its outbound
// calls. The lists are upstream's, in upstream's order: productpage.py (its propagated headers),
// reviews' LibertyRestEndpoint.java and details.rb in istio/istio's samples/bookinfo/src.
package propagate

import "net/http"

// ProductPageCopied are the headers productpage copies verbatim. The B3 headers are absent on
// purpose: productpage re-encodes them through OpenTelemetry's B3 propagator (see B3), which drops
// x-b3-parentspanid and x-b3-flags. end-user is absent too: productpage sets it from the session
// and never forwards a client's own end-user header, so only a logged-in user reaches the
// "jason" routes.
var ProductPageCopied = []string{
	"x-request-id",
	"x-ot-span-context",
	"x-datadog-trace-id",
	"x-datadog-parent-id",
	"x-datadog-sampling-priority",
	"traceparent",
	"tracestate",
	"x-cloud-trace-context",
	"grpc-trace-bin",
	"sw8",
	"user-agent",
	"cookie",
	"authorization",
	"jwt",
}

// ReviewsCopied are the headers reviews copies to ratings (details uses the same list for its
// external call). Copying end-user is what lets the ratings fault rules for jason match on the
// reviews→ratings hop.
var ReviewsCopied = []string{
	"x-request-id",
	"x-ot-span-context",
	"x-datadog-trace-id",
	"x-datadog-parent-id",
	"x-datadog-sampling-priority",
	"traceparent",
	"tracestate",
	"x-cloud-trace-context",
	"grpc-trace-bin",
	"x-b3-traceid",
	"x-b3-spanid",
	"x-b3-parentspanid",
	"x-b3-sampled",
	"x-b3-flags",
	"sw8",
	"end-user",
	"user-agent",
	"cookie",
	"authorization",
	"jwt",
}

// Copy sets on dst every header of names that src carries, with its first value (what Flask's
// headers.get returns; the Bookinfo callers send each of these headers once). A header src lacks is
// left unset, never sent empty.
func Copy(dst, src http.Header, names []string) {
	for _, name := range names {
		if v := src.Get(name); v != "" {
			dst.Set(name, v)
		}
	}
}
