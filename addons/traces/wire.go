package traces

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// zipkinSpan is Zipkin's v2 span JSON (timestamps and durations in microseconds).
type zipkinSpan struct {
	TraceID       string `json:"traceId"`
	ID            string `json:"id"`
	ParentID      string `json:"parentId"`
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	Timestamp     int64  `json:"timestamp"`
	Duration      int64  `json:"duration"`
	LocalEndpoint struct {
		ServiceName string `json:"serviceName"`
	} `json:"localEndpoint"`
	Tags map[string]string `json:"tags"`
}

func fromZipkin(spans []zipkinSpan) Trace {
	var t Trace
	for _, s := range spans {
		t.ID = s.TraceID
		status := s.Tags["http.status_code"]
		_, failed := s.Tags["error"]
		t.Spans = append(t.Spans, Span{ID: s.ID, ParentID: s.ParentID, Service: s.LocalEndpoint.ServiceName,
			Operation: s.Name, Kind: strings.ToLower(s.Kind), Start: time.UnixMicro(s.Timestamp).UTC(),
			Duration: time.Duration(s.Duration) * time.Microsecond, Status: status, Error: failed || is5xx(status)})
	}
	t.normalize()
	return t
}

// jaegerServices is GET /api/services.
type jaegerServices struct {
	Data []string `json:"data"`
}

// jaegerTraces is GET /api/traces and /api/traces/{id}: Jaeger's query API JSON.
type jaegerTraces struct {
	Data []jaegerTrace `json:"data"`
}

type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		StartTime int64       `json:"startTime"` // µs since the epoch
		Duration  int64       `json:"duration"`  // µs
		Tags      []jaegerTag `json:"tags"`
		ProcessID string      `json:"processID"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type jaegerTag struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

func (j jaegerTrace) trace() Trace {
	t := Trace{ID: j.TraceID}
	for _, s := range j.Spans {
		sp := Span{ID: s.SpanID, Service: j.Processes[s.ProcessID].ServiceName, Operation: s.OperationName,
			Start: time.UnixMicro(s.StartTime).UTC(), Duration: time.Duration(s.Duration) * time.Microsecond}
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" {
				sp.ParentID = r.SpanID
			}
		}
		for _, tag := range s.Tags {
			switch tag.Key {
			case "span.kind":
				sp.Kind = strings.ToLower(fmt.Sprint(tag.Value))
			case "http.status_code":
				sp.Status = tagString(tag.Value)
			case "error":
				sp.Error = sp.Error || tagString(tag.Value) != "false"
			}
		}
		sp.Error = sp.Error || is5xx(sp.Status)
		t.Spans = append(t.Spans, sp)
	}
	t.normalize()
	return t
}

// tagString prints a tag value; JSON numbers arrive as float64 and print as integers.
func tagString(v any) string {
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return strconv.FormatInt(int64(f), 10)
	}
	return fmt.Sprint(v)
}

func is5xx(status string) bool { return len(status) == 3 && status[0] == '5' }
