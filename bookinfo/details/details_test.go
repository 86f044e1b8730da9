package details

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestDetails(t *testing.T) {
	srv := httptest.NewServer(Handler(nil))
	t.Cleanup(srv.Close)
	cases := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/details/0", 200, `{"id":0,"author":"William Shakespeare","year":1595,"type":"paperback","pages":200,"publisher":"PublisherA","language":"English","ISBN-10":"1234567890","ISBN-13":"123-1234567890"}`},
		{"GET", "/details/7", 200, `{"id":7,"author":"William Shakespeare","year":1595,"type":"paperback","pages":200,"publisher":"PublisherA","language":"English","ISBN-10":"1234567890","ISBN-13":"123-1234567890"}`},
		{"POST", "/details/0x10", 200, `{"id":16,"author":"William Shakespeare","year":1595,"type":"paperback","pages":200,"publisher":"PublisherA","language":"English","ISBN-10":"1234567890","ISBN-13":"123-1234567890"}`},
		{"GET", "/details/abc", 400, `{"error":"please provide numeric product id"}`},
		{"GET", "/details", 400, `{"error":"please provide numeric product id"}`},
		{"GET", "/details/", 400, `{"error":"please provide numeric product id"}`},
		{"GET", "/health", 200, `{"status":"Details is healthy"}`},
		{"DELETE", "/health", 200, `{"status":"Details is healthy"}`},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", res.StatusCode, tc.status)
			}
			if string(body) != tc.body {
				t.Errorf("body = %s\nwant   %s", body, tc.body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}
