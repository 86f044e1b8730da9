package inject

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"

	"github.com/meshlab/meshlab/mesh/admission"
)

// DefaultWebhookPort is where the webhook listens in the pod (Istio's injector port).
const DefaultWebhookPort = 15017

// Serve runs the webhook over TLS on ln until ctx ends, then shuts down gracefully. /healthz/ready
// answers 200 for the pod's probe. The listener is the caller's so tests can use 127.0.0.1:0.
func Serve(ctx context.Context, ln net.Listener, cert tls.Certificate, h *Webhook, log *slog.Logger) error {
	return admission.Serve(ctx, ln, cert, "sidecar injector webhook", WebhookPath, h, log)
}
