package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshlab/meshlab/mesh/authz"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/jwtauth"
	"github.com/meshlab/meshlab/mesh/pilot/model"
	"github.com/meshlab/meshlab/mesh/pilot/xdsgen"
)

// resourceTypes are the five types every snapshot holds, in the order ADS clients request them;
// a proxy is SYNCED when it has ACKed all five.
var resourceTypes = []resource.Type{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType, resource.ExtensionConfigType}

// snapshotTypes adds the SDS secrets a snapshot holds when its clusters name credentials; a
// proxy subscribes to them only then.
var snapshotTypes = append(slices.Clip(resourceTypes), resource.SecretType)

// render compiles st for proxy p and renders it as a consistent snapshot whose version is a hash
// of its content, so an unchanged config is never pushed again.
func render(st *model.State, p config.Proxy) (*cachev3.Snapshot, *config.Table, error) {
	snap := &config.Snapshot{
		Proxy:               p,
		Services:            slices.Clone(st.Services), // Compile fills in defaults in place
		VirtualServices:     st.VirtualServices,
		DestinationRules:    st.DestinationRules,
		PeerAuthentications: st.PeerAuthentications,
		Credentials:         st.Credentials,
		// The security policies that select p, chosen here with the labels the registry knows.
		AuthorizationPolicies:  authz.Select(st.AuthorizationPolicies, p.PolicyWorkload(), config.RootNamespace),
		RequestAuthentications: jwtauth.Select(st.RequestAuthentications, p.PolicyWorkload(), config.RootNamespace),
		PoliciesSelected:       true,
	}
	t, err := config.Compile(snap)
	if err != nil {
		return nil, nil, fmt.Errorf("compile for proxy %s: %w", p.ID, err)
	}
	res := xdsgen.Generate(snap, t)
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	for _, typ := range snapshotTypes {
		for _, r := range res[typ] {
			b, err := opts.Marshal(r)
			if err != nil {
				return nil, nil, fmt.Errorf("proxy %s: marshal %s: %w", p.ID, typ, err)
			}
			h.Write(b)
		}
	}
	version := hex.EncodeToString(h.Sum(nil))[:16]
	s, err := cachev3.NewSnapshot(version, map[resource.Type][]types.Resource(res))
	if err != nil {
		return nil, nil, fmt.Errorf("proxy %s: snapshot: %w", p.ID, err)
	}
	if err := s.Consistent(); err != nil {
		return nil, nil, fmt.Errorf("proxy %s: snapshot not consistent: %w", p.ID, err)
	}
	return s, t, nil
}

// renderKey identifies proxies that get the same config: routing depends on a proxy's namespace
// (sourceNamespace matches) and labels (sourceLabels matches), not on its name or address.
func renderKey(p config.Proxy) string {
	var b strings.Builder
	b.WriteString(p.Namespace)
	for _, k := range slices.Sorted(maps.Keys(p.Labels)) {
		b.WriteString("\x00" + k + "=" + p.Labels[k])
	}
	return b.String()
}
