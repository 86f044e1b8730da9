// Package xds is the sidecar's side of the control plane: an ADS client that connects with
// backoff, subscribes to clusters, endpoints, listeners and routes, rebuilds the config.Snapshot
// the proxy consumes from them (ToSnapshot, the inverse of mesh/pilot/xdsgen), applies it, ACKs
// what applied and NACKs what failed with the error, and keeps the last good config while the
// control plane is away.
package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// Reconnect backoff: doubling from BackoffMin up to BackoffMax.
const (
	BackoffMin = 100 * time.Millisecond
	BackoffMax = 5 * time.Second
)

// Options configure a Client.
type Options struct {
	Addr string // control plane, host:port
	// Conn, when set, is the connection to use (TLS, shared with the CA client); nil dials Addr
	// in plaintext.
	Conn grpc.ClientConnInterface
	// TokenPath is the pod's projected ServiceAccount token, sent with every stream so that the
	// control plane knows which pod this is; "" sends none (plaintext labs).
	TokenPath string
	Proxy     config.Proxy // who this sidecar is (sent as the node)
	Tracing   config.Tracing
	// Apply installs a rebuilt snapshot; an error NACKs the config and the proxy keeps its previous one.
	Apply  func(*config.Snapshot) error
	Logger *slog.Logger
}

// Run keeps an ADS stream to the control plane open until ctx ends, reconnecting with backoff.
func Run(ctx context.Context, opts Options) error {
	if opts.Addr == "" || opts.Apply == nil {
		return errors.New("xds: an address and an Apply function are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	conn := opts.Conn
	if conn == nil {
		c, err := grpc.NewClient(opts.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return fmt.Errorf("xds: control plane %s: %w", opts.Addr, err)
		}
		defer c.Close()
		conn = c
	}
	backoff := BackoffMin
	for {
		s := &session{opts: opts}
		err := s.run(ctx, discoveryv3.NewAggregatedDiscoveryServiceClient(conn))
		if ctx.Err() != nil {
			return nil
		}
		if s.applied {
			backoff = BackoffMin // the stream worked; reconnect quickly
		}
		opts.Logger.Warn("xds: stream to the control plane ended; keeping the last good config", "addr", opts.Addr, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, BackoffMax)
	}
}

// typeState is one resource type's state on a stream.
type typeState struct {
	names    []string // subscribed names; nil = wildcard
	received bool
	version  string // of the latest response
	nonce    string
	acked    string // latest version accepted
	pending  bool   // latest response not answered yet
}

type session struct {
	opts    Options
	stream  discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	types   map[string]*typeState
	res     *Resources
	applied bool
}

func (s *session) run(ctx context.Context, c discoveryv3.AggregatedDiscoveryServiceClient) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.opts.TokenPath != "" {
		tok, err := os.ReadFile(s.opts.TokenPath) // read per stream: the kubelet renews it
		if err != nil {
			return fmt.Errorf("the ServiceAccount token: %w", err)
		}
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	stream, err := c.StreamAggregatedResources(ctx)
	if err != nil {
		return fmt.Errorf("open ADS stream: %w", err)
	}
	s.stream = stream
	s.res = newResources()
	s.types = map[string]*typeState{}
	for _, t := range []string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType, resource.ExtensionConfigType} {
		s.types[t] = &typeState{}
	}
	// Wildcard subscriptions first; endpoints and routes are subscribed by name once known. The
	// security policies (ECDS) are whatever the control plane selected for this proxy.
	for _, t := range []string{resource.ClusterType, resource.ListenerType, resource.ExtensionConfigType} {
		if err := s.send(t, nil); err != nil {
			return err
		}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if err := s.handle(resp); err != nil {
			return err
		}
	}
}

func (s *session) handle(resp *discoveryv3.DiscoveryResponse) error {
	ts, ok := s.types[resp.GetTypeUrl()]
	if !ok {
		return s.send(resp.GetTypeUrl(), &status.Status{Code: int32(codes.Unimplemented), Message: "type not supported"}, withNonce(resp))
	}
	ts.received, ts.version, ts.nonce, ts.pending = true, resp.GetVersionInfo(), resp.GetNonce(), true
	if err := s.store(resp); err != nil {
		return s.nackPending(err)
	}
	// Follow the names: clusters name their endpoints, listeners their routes.
	switch resp.GetTypeUrl() {
	case resource.ClusterType:
		if err := s.subscribe(resource.EndpointType, slices.Sorted(maps.Keys(s.res.Clusters))); err != nil {
			return err
		}
		// SDS: the Secrets' credentials the clusters name, subscribed once any is named.
		if names := secretNames(s.res.Clusters); len(names) > 0 || s.types[resource.SecretType] != nil {
			if s.types[resource.SecretType] == nil {
				s.types[resource.SecretType] = &typeState{}
			}
			if len(names) > 0 {
				if err := s.subscribe(resource.SecretType, names); err != nil {
					return err
				}
			}
		}
	case resource.ListenerType:
		if err := s.subscribe(resource.RouteType, routeNames(s.res.Listeners)); err != nil {
			return err
		}
	}
	if !s.complete() {
		return nil // e.g. new clusters whose endpoints are on their way
	}
	snap, err := ToSnapshot(s.res, s.opts.Proxy, s.opts.Tracing)
	if err == nil {
		err = s.opts.Apply(snap)
	}
	if err != nil {
		s.opts.Logger.Error("xds: config rejected; keeping the previous one", "version", resp.GetVersionInfo(), "err", err)
		return s.nackPending(err)
	}
	if !s.applied || resp.GetTypeUrl() == resource.RouteType {
		s.opts.Logger.Info("xds: config applied", "version", resp.GetVersionInfo())
	}
	s.applied = true
	for _, t := range slices.Sorted(maps.Keys(s.types)) {
		if ts := s.types[t]; ts.pending {
			ts.pending, ts.acked = false, ts.version
			if err := s.send(t, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// complete reports whether every type arrived at one version with every named resource present.
func (s *session) complete() bool {
	version := ""
	needSecrets := len(secretNames(s.res.Clusters)) > 0
	for typ, ts := range s.types {
		if typ == resource.SecretType && !needSecrets {
			// No cluster names a Secret any more: the stale subscription may never be answered
			// (the cache waits for names it lacks), and nothing needs it.
			continue
		}
		if !ts.received || version != "" && ts.version != version {
			return false
		}
		version = ts.version
	}
	for name := range s.res.Clusters {
		if s.res.Endpoints[name] == nil {
			return false
		}
	}
	for _, name := range routeNames(s.res.Listeners) {
		if s.res.Routes[name] == nil {
			return false
		}
	}
	for _, name := range secretNames(s.res.Clusters) {
		if s.res.Secrets[name] == nil {
			return false
		}
	}
	return true
}

// routeNames are the route configurations the listeners read: one per service listener (named
// alike); the inbound listener reads none.
func routeNames(listeners map[string]*listenerv3.Listener) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(listeners)) {
		if name != xdsnames.InboundListener {
			out = append(out, name)
		}
	}
	return out
}

func (s *session) subscribe(typ string, names []string) error {
	ts := s.types[typ]
	if slices.Equal(ts.names, names) && ts.names != nil {
		return nil
	}
	ts.names = names
	return s.send(typ, nil)
}

func (s *session) nackPending(cause error) error {
	detail := &status.Status{Code: int32(codes.InvalidArgument), Message: cause.Error()}
	for _, t := range slices.Sorted(maps.Keys(s.types)) {
		if ts := s.types[t]; ts.pending {
			ts.pending = false
			if err := s.send(t, detail); err != nil {
				return err
			}
		}
	}
	return nil
}

type sendOpt func(*discoveryv3.DiscoveryRequest)

func withNonce(resp *discoveryv3.DiscoveryResponse) sendOpt {
	return func(r *discoveryv3.DiscoveryRequest) { r.ResponseNonce = resp.GetNonce() }
}

// send requests typ: an ACK (version = latest accepted) or, with detail, a NACK.
func (s *session) send(typ string, detail *status.Status, opts ...sendOpt) error {
	req := &discoveryv3.DiscoveryRequest{Node: xdsnames.NodeFor(s.opts.Proxy), TypeUrl: typ, ErrorDetail: detail}
	if ts := s.types[typ]; ts != nil {
		req.VersionInfo, req.ResponseNonce, req.ResourceNames = ts.acked, ts.nonce, ts.names
	}
	for _, o := range opts {
		o(req)
	}
	if err := s.stream.Send(req); err != nil {
		return fmt.Errorf("send %s request: %w", typ, err)
	}
	return nil
}
