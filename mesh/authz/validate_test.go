package authz

import (
	"errors"
	"strings"
	"testing"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"sigs.k8s.io/yaml"
)

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name, spec, want string // want: a substring of the joined errors; "" = valid
	}{
		{"allow nothing", `{}`, ""},
		{"allow all", `{rules: [{}]}`, ""},
		{"principal without slash", `{rules: [{from: [{source: {principals: ["productpage"]}}]}]}`,
			`spec.rules[0].from[0].source.principals[0]: "productpage" has no '/'`},
		{"principal wildcard without slash is fine", `{rules: [{from: [{source: {principals: ["*"]}}]}]}`, ""},
		{"bad CIDR", `{rules: [{from: [{source: {ipBlocks: ["10.0.0.0/33"]}}]}]}`,
			`spec.rules[0].from[0].source.ipBlocks[0]: bad CIDR range "10.0.0.0/33"`},
		{"bad IP in a condition", `{rules: [{when: [{key: source.ip, notValues: ["10.0.0.300"]}]}]}`,
			`spec.rules[0].when[0].notValues[0]: bad IP address "10.0.0.300"`},
		{"star inside a path", `{rules: [{to: [{operation: {paths: ["/api/*/users"]}}]}]}`,
			`spec.rules[0].to[0].operation.paths[0]: "/api/*/users": '*' is allowed only`},
		{"path template", `{rules: [{to: [{operation: {paths: ["/foo/{*}"]}}]}]}`,
			`path templates ({*}, {**}) are not supported`},
		{"custom", `{action: CUSTOM, provider: {name: ext}, rules: [{}]}`,
			`spec.action: CUSTOM hands the decision to an external authorizer`},
		{"deny without rules", `{action: DENY}`, `spec.rules: a DENY policy without rules never matches`},
		{"bad port", `{rules: [{to: [{operation: {ports: ["http"]}}]}]}`, `spec.rules[0].to[0].operation.ports[0]: "http" is not a port`},
		{"unknown attribute", `{rules: [{when: [{key: source.user, values: ["x"]}]}]}`, `spec.rules[0].when[0].key: unknown attribute "source.user"`},
		{"empty source", `{rules: [{from: [{source: {}}]}]}`, `spec.rules[0].from[0].source: a source must name at least one field`},
		{"service accounts with principals", `{rules: [{from: [{source: {serviceAccounts: ["a"], principals: ["x/y"]}}]}]}`, `serviceAccounts: cannot be set with principals`},
		{"header key form", `{rules: [{when: [{key: "request.headers", values: ["x"]}]}]}`, `spec.rules[0].when[0].key: want the form [NAME]`},
		{"target refs", `{targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}], rules: [{}]}`, `spec.targetRefs: targetRefs`},
		{"experimental", `{rules: [{when: [{key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["x"]}]}]}`, `experimental attributes`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &securityv1.AuthorizationPolicy{}
			if err := yaml.UnmarshalStrict([]byte("metadata: {name: p, namespace: foo}\nspec: "+c.spec), p); err != nil {
				t.Fatal(err)
			}
			err := errors.Join(Validate(p)...)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if c.want != "" {
				if _, cerr := Compile([]*securityv1.AuthorizationPolicy{p}); cerr == nil {
					t.Fatal("Compile accepted a policy Validate refuses")
				}
			}
		})
	}
}
