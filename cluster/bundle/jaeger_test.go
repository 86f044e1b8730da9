package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBundleJaegerStoresZipkinSpans takes Jaeger's all-in-one out of the bundle's image and runs
// it with the addon chart's v1 arguments (Zipkin receiver, in-memory storage capped by
// --memory.max-traces), every listener moved to a free loopback port. It waits for the admin
// port (the chart's readiness probe), posts a Zipkin v2 span and reads the trace back from the
// query API, which is what `meshlab verify bookinfo` does against the lab's Jaeger.
func TestBundleJaegerStoresZipkinSpans(t *testing.T) {
	dir, m := builtBundle(t)
	work := t.TempDir()
	bin := filepath.Join(work, "jaeger-all-in-one")
	extractFromImage(t, dir, m, m.Versions["image-jaeger"], "bin/jaeger-all-in-one", bin)

	zipkin, query, admin := freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)
	startPeer(t, work, "jaeger", bin,
		"--collector.zipkin.host-port="+zipkin, "--memory.max-traces=1000", // the chart's arguments
		"--collector.otlp.enabled=false",
		"--collector.grpc-server.host-port="+freeLoopbackAddr(t),
		"--collector.http-server.host-port="+freeLoopbackAddr(t),
		"--query.http-server.host-port="+query,
		"--query.grpc-server.host-port="+freeLoopbackAddr(t),
		"--admin.http.host-port="+admin)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitHTTP(ctx, t, "http://"+admin+"/")

	const traceID = "5af7183fb1d4cf5f5af7183fb1d4cf5f"
	span := fmt.Sprintf(`[{"traceId":%q,"id":"5af7183fb1d4cf5f","name":"get /productpage","kind":"SERVER",
		"timestamp":%d,"duration":1000,"localEndpoint":{"serviceName":"productpage.default"}}]`,
		traceID, time.Now().UnixMicro())
	var posted bool
	for !posted {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+zipkin+"/api/v2/spans", bytes.NewBufferString(span))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			posted = resp.StatusCode == http.StatusAccepted
		}
		if !posted {
			select {
			case <-ctx.Done():
				t.Fatalf("Zipkin receiver on %s never accepted a span (%v)", zipkin, err)
			case <-time.After(200 * time.Millisecond): // polling interval of a deadline-bound wait
			}
		}
	}
	for {
		code, body := get(ctx, "http://"+query+"/api/traces/"+traceID)
		var tr struct {
			Data []struct {
				Spans []struct{ OperationName string } `json:"spans"`
			} `json:"data"`
		}
		if code == http.StatusOK && json.Unmarshal(body, &tr) == nil && len(tr.Data) == 1 &&
			len(tr.Data[0].Spans) == 1 && strings.Contains(tr.Data[0].Spans[0].OperationName, "productpage") {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("trace %s never appeared in the query API: %d %s", traceID, code, body)
		case <-time.After(200 * time.Millisecond): // polling interval of a deadline-bound wait
		}
	}
}
