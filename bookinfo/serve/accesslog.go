package serve

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// accessLog logs each request at debug level. When debug is off it costs one Enabled check, so
// the services stay lean under benchmark load.
func accessLog(log *slog.Logger, service string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		log.LogAttrs(context.WithoutCancel(r.Context()), slog.LevelDebug, "request",
			slog.String("service", service), slog.String("method", r.Method), slog.String("uri", r.RequestURI),
			slog.Int("status", sw.status), slog.Duration("took", time.Since(start)),
			slog.String("x-request-id", r.Header.Get("x-request-id")))
	})
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
