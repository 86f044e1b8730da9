package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/meshlab/meshlab/internal/golden"
	"github.com/meshlab/meshlab/mesh/pilot/server"
)

func TestStatusTableGolden(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	st := []server.ProxyStatus{
		{ID: "productpage-v1-5d8f.bookinfo", Namespace: "bookinfo", Workload: "productpage-v1", State: server.StateSynced, Version: "1a2b",
			Identity: "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage", CertExpiry: now.Add(23*time.Hour + 41*time.Minute), InboundMTLS: "STRICT"},
		{ID: "ratings-v1-9c2e.bookinfo", Namespace: "bookinfo", Workload: "ratings-v1", State: server.StateNacked, Version: "1a2b",
			InboundMTLS: "PERMISSIVE (9080: DISABLE)", Error: "listener: bad\nthing"},
	}
	rejected := []string{"AuthorizationPolicy bookinfo/typo: spec.action: CUSTOM\nis not supported; keeping deny-all"}
	for i := range st {
		st[i].Rejected = rejected
	}
	var out bytes.Buffer
	if err := writeStatus(&out, st, now); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/status.golden.txt", out.Bytes())
}
