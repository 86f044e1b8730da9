// Package authz is Istio's AuthorizationPolicy (security.istio.io/v1) as the meshlab sidecar
// enforces it: which policies select a workload (Applies), what a policy may say (Validate, with
// field paths), and a compiled Engine that decides one request or connection (Evaluate) without
// allocating for exact, prefix and suffix matches.
//
// The semantics are Istio's, as istiod translates policies into Envoy RBAC filters:
//
//   - Policies select workloads by namespace (the root namespace's apply mesh-wide) and an
//     optional label selector.
//   - CUSTOM, then DENY, then ALLOW: a matching DENY rule denies; with no ALLOW policy the request
//     is allowed; otherwise a matching ALLOW rule allows and anything else is denied. An ALLOW
//     policy without rules (`spec: {}`) matches nothing, so it denies everything it selects.
//     AUDIT rules only mark the request. CUSTOM needs an external authorizer, which meshlab does
//     not have: Validate refuses it.
//   - A rule matches when one of its sources, one of its operations and all of its conditions
//     match; within a source or operation, fields are ANDed and the values of one field ORed;
//     `notX` fields negate the OR of their values. Strings match exactly, by prefix (`abc*`), by
//     suffix (`*abc`) or by presence (`*`).
//   - Principals, namespaces, service accounts and trust domains come from the peer's SPIFFE
//     certificate; without mutual TLS they match nothing (and their not-forms match).
//   - On a TCP connection the HTTP-only fields (hosts, methods, paths, requestPrincipals,
//     request.headers and request.auth.* conditions) cannot be evaluated: an ALLOW rule using one
//     is dropped (so the policy allows less), a DENY or AUDIT rule is kept without that field (so
//     it denies more), exactly as Istio builds its network RBAC filter.
//
// The package imports no control-plane code: the sidecar links it, and the control plane uses
// Applies to pick the policies it sends each proxy.
package authz
