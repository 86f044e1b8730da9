package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// api is a small JSON-over-HTTP client for the addons' APIs.
type api struct {
	client *http.Client
}

func newAPI(c *http.Client) api {
	if c == nil {
		c = &http.Client{Timeout: 15 * time.Second}
	}
	return api{client: c}
}

// get fetches url; it returns the status and body, and an error only when no answer came.
func (a api) get(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return resp.StatusCode, body, nil
}

// statusError is an answer other than 200, kept typed so a 503 from the API server's proxy for a
// Service without endpoints can be told from a backend that answers "not yet".
type statusError struct {
	url  string
	code int
	body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d: %.200s", e.url, e.code, e.body)
}

// getJSON fetches url and decodes a 200 answer into v.
func (a api) getJSON(ctx context.Context, url string, v any) error {
	code, body, err := a.get(ctx, url)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return &statusError{url: url, code: code, body: string(body[:min(len(body), 1024)])}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: not the expected JSON: %w", url, err)
	}
	return nil
}
