package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/bookinfo/serve"
)

func init() {
	registerIn("bookinfo", newBookinfoServeCmd)
}

// bookinfoServeFlags are the flags of `meshlab bookinfo serve`. The address flags override
// upstream's environment variables of the same meaning, which keep working unchanged.
type bookinfoServeFlags struct {
	service, version, listen string
	legacyUserCookie         bool
	env                      map[string]*string // environment variable → flag value
}

// envFlags maps flag names to the upstream variable each one overrides.
var envFlags = []struct{ flag, env, help string }{
	{"services-domain", "SERVICES_DOMAIN", "domain appended to every upstream host name"},
	{"details-host", "DETAILS_HOSTNAME", "host name of details (default details)"},
	{"details-port", "DETAILS_SERVICE_PORT", "port of details (default 9080)"},
	{"reviews-host", "REVIEWS_HOSTNAME", "host name of reviews (default reviews)"},
	{"reviews-port", "REVIEWS_SERVICE_PORT", "port of reviews (default 9080)"},
	{"ratings-host", "RATINGS_HOSTNAME", "host name of ratings (default ratings)"},
	{"ratings-port", "RATINGS_SERVICE_PORT", "port of ratings (default 9080)"},
	{"star-color", "STAR_COLOR", "reviews: colour of the stars (v2 black, v3 red)"},
	{"enable-ratings", "ENABLE_RATINGS", "reviews: true or false (v1 false, v2/v3 true)"},
	{"pod-name", "HOSTNAME", "reviews: pod name shown as \"Reviews served by\""},
	{"cluster-name", "CLUSTER_NAME", "reviews: cluster name shown on the page"},
}

func newBookinfoServeCmd(g *globalOptions) *cobra.Command {
	f := &bookinfoServeFlags{env: map[string]*string{}}
	cmd := &cobra.Command{
		Use:   "serve --service productpage|details|reviews|ratings [--version V] [--listen ADDR]",
		Short: "Serve one Bookinfo service (Go implementation of Istio's sample)",
		Long: `Serve one of Bookinfo's four services, behaving like Istio's upstream images: the same
endpoints, JSON, HTML markers, timeouts, retry and header propagation.

Versions: productpage v1; details v1; reviews v1 (no stars), v2 (black), v3 (red);
ratings v1 and the test variants v-faulty, v-delayed, v-unavailable, v-unhealthy.
Upstream's environment variables (SERVICES_DOMAIN, DETAILS_HOSTNAME, DETAILS_SERVICE_PORT,
REVIEWS_HOSTNAME, ..., ENABLE_RATINGS, STAR_COLOR, HOSTNAME, CLUSTER_NAME) are honoured; the
flags below override them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBookinfoServe(cmd.Context(), g, f, cmd)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.service, "service", "", "productpage, details, reviews or ratings (required)")
	fl.StringVar(&f.version, "version", "v1", "service version")
	fl.StringVar(&f.listen, "listen", serve.DefaultListen, "address to listen on")
	fl.BoolVar(&f.legacyUserCookie, "legacy-user-cookie", false,
		"productpage: also set Istio 0.2's cookie user=<name> and forward it, for seed-era RouteRules matching that cookie")
	for _, e := range envFlags {
		f.env[e.env] = fl.String(e.flag, "", e.help+" (overrides $"+e.env+")")
	}
	return cmd
}

func runBookinfoServe(ctx context.Context, g *globalOptions, f *bookinfoServeFlags, cmd *cobra.Command) error {
	if f.service == "" {
		return badInput(fmt.Errorf("--service is required: one of %s", strings.Join(serve.ServiceNames(), ", ")))
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	overrides := map[string]string{}
	for _, e := range envFlags {
		if cmd.Flags().Changed(e.flag) {
			overrides[e.env] = *f.env[e.env]
		}
	}
	cfg := serve.Config{
		Service:          f.service,
		Version:          f.version,
		Listen:           f.listen,
		LegacyUserCookie: f.legacyUserCookie,
		Getenv: func(name string) string {
			if v, ok := overrides[name]; ok {
				return v
			}
			v := os.Getenv(name)
			if name == "HOSTNAME" && v == "" {
				// Kubernetes sets HOSTNAME to the pod name; shells often do not export it.
				v, _ = os.Hostname()
			}
			return v
		},
		Log: bookinfoLogger(g),
	}
	if _, err := serve.Handler(cfg); err != nil { // a wrong service or version is the user's input
		return badInput(err)
	}
	return serve.Run(ctx, cfg, nil)
}

// bookinfoLogger logs to stderr: text by default, JSON with --output json; -v shows each
// backend call's debug lines.
func bookinfoLogger(g *globalOptions) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if g.verbose > 0 {
		opts.Level = slog.LevelDebug
	}
	if g.output == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
