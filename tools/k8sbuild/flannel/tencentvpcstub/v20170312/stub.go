// Package v20170312 stands in for Tencent Cloud's VPC SDK, which the Go module
// proxy reachable from CI does not serve. flanneld links its tencent-vpc backend
// unconditionally; the offline lab uses the vxlan backend, so this stub only has
// to compile: every call fails with ErrNotBuiltIn.
package v20170312

import "errors"

// ErrNotBuiltIn is returned by every API call of the stub client.
var ErrNotBuiltIn = errors.New("tencent-vpc backend is not built into meshlab's offline flanneld")

// Filter narrows a DescribeRouteTables call.
type Filter struct {
	Name   *string
	Values []*string
}

// Route is one entry of a route table.
type Route struct {
	RouteId              *uint64
	DestinationCidrBlock *string
	GatewayType          *string
	GatewayId            *string
	RouteType            *string
	Enabled              *bool
}

// RouteTable is a VPC route table.
type RouteTable struct {
	RouteTableId *string
	RouteSet     []*Route
}

// DescribeRouteTablesRequest asks for route tables matching Filters.
type DescribeRouteTablesRequest struct{ Filters []*Filter }

// DescribeRouteTablesResponse carries the matching route tables.
type DescribeRouteTablesResponse struct {
	Response *struct{ RouteTableSet []*RouteTable }
}

// DeleteRoutesRequest removes Routes from a route table.
type DeleteRoutesRequest struct {
	RouteTableId *string
	Routes       []*Route
}

// DeleteRoutesResponse is empty in the stub.
type DeleteRoutesResponse struct{}

// CreateRoutesRequest adds Routes to a route table.
type CreateRoutesRequest struct {
	RouteTableId *string
	Routes       []*Route
}

// CreateRoutesResponse is empty in the stub.
type CreateRoutesResponse struct{}

// Client is the stub API client.
type Client struct{}

// NewClientWithSecretId returns a client whose calls all fail.
func NewClientWithSecretId(_, _, _ string) (*Client, error) { return &Client{}, nil }

// NewDescribeRouteTablesRequest returns an empty request.
func NewDescribeRouteTablesRequest() *DescribeRouteTablesRequest {
	return &DescribeRouteTablesRequest{}
}

// NewDeleteRoutesRequest returns an empty request.
func NewDeleteRoutesRequest() *DeleteRoutesRequest { return &DeleteRoutesRequest{} }

// NewCreateRoutesRequest returns an empty request.
func NewCreateRoutesRequest() *CreateRoutesRequest { return &CreateRoutesRequest{} }

// DescribeRouteTables fails with ErrNotBuiltIn.
func (*Client) DescribeRouteTables(*DescribeRouteTablesRequest) (*DescribeRouteTablesResponse, error) {
	return nil, ErrNotBuiltIn
}

// DeleteRoutes fails with ErrNotBuiltIn.
func (*Client) DeleteRoutes(*DeleteRoutesRequest) (*DeleteRoutesResponse, error) {
	return nil, ErrNotBuiltIn
}

// CreateRoutes fails with ErrNotBuiltIn.
func (*Client) CreateRoutes(*CreateRoutesRequest) (*CreateRoutesResponse, error) {
	return nil, ErrNotBuiltIn
}
