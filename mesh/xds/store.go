package xds

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// store replaces the resources of resp's type with resp's (state of the world: a response holds
// every resource of its type), checking each with its generated validator first.
func (s *session) store(resp *discoveryv3.DiscoveryResponse) error {
	decode := func(a *anypb.Any, m interface {
		proto.Message
		Validate() error
	}) error {
		if err := a.UnmarshalTo(m); err != nil {
			return fmt.Errorf("%s: %w", resp.GetTypeUrl(), err)
		}
		if err := m.Validate(); err != nil {
			return fmt.Errorf("%s: %w", resp.GetTypeUrl(), err)
		}
		return nil
	}
	switch resp.GetTypeUrl() {
	case resource.ClusterType:
		m := map[string]*clusterv3.Cluster{}
		for _, a := range resp.GetResources() {
			c := &clusterv3.Cluster{}
			if err := decode(a, c); err != nil {
				return err
			}
			m[c.GetName()] = c
		}
		s.res.Clusters = m
	case resource.EndpointType:
		m := map[string]*endpointv3.ClusterLoadAssignment{}
		for _, a := range resp.GetResources() {
			e := &endpointv3.ClusterLoadAssignment{}
			if err := decode(a, e); err != nil {
				return err
			}
			m[e.GetClusterName()] = e
		}
		s.res.Endpoints = m
	case resource.ListenerType:
		m := map[string]*listenerv3.Listener{}
		for _, a := range resp.GetResources() {
			l := &listenerv3.Listener{}
			if err := decode(a, l); err != nil {
				return err
			}
			m[l.GetName()] = l
		}
		s.res.Listeners = m
	case resource.SecretType:
		m := map[string]*tlsv3.Secret{}
		for _, a := range resp.GetResources() {
			sec := &tlsv3.Secret{}
			if err := decode(a, sec); err != nil {
				return err
			}
			m[sec.GetName()] = sec
		}
		s.res.Secrets = m
	case resource.ExtensionConfigType:
		m := map[string]*corev3.TypedExtensionConfig{}
		for _, a := range resp.GetResources() {
			e := &corev3.TypedExtensionConfig{}
			if err := decode(a, e); err != nil {
				return err
			}
			m[e.GetName()] = e
		}
		s.res.Extensions = m
	case resource.RouteType:
		m := map[string]*routev3.RouteConfiguration{}
		for _, a := range resp.GetResources() {
			r := &routev3.RouteConfiguration{}
			if err := decode(a, r); err != nil {
				return err
			}
			m[r.GetName()] = r
		}
		s.res.Routes = m
	}
	return nil
}
