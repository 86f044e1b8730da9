package bundle

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// coldBuild is roughly how long each component takes to compile on a fresh machine with 2 cores
// (measured with empty Go caches, in components() order: later components reuse packages the
// earlier ones compiled). Shown while a component builds, so a newcomer staring at a terminal
// that prints nothing for minutes knows what is compiling and that it has not hung.
var coldBuild = map[string]time.Duration{
	"kubernetes": 8 * time.Minute,
	"etcd":       30 * time.Second,
	"coredns":    2*time.Minute + 30*time.Second,
	"flannel":    2 * time.Minute,
	"critools":   time.Minute,
	"cni":        30 * time.Second,
	"cniflannel": 10 * time.Second,
	"prometheus": 4 * time.Minute, // with its web UI: npm ci and three UI builds (~2 min), then Go
	"jaeger":     time.Minute,
	"pause":      5 * time.Second,
}

// heartbeat is how often a build in progress says it is still going.
const heartbeat = 30 * time.Second

// reportBuild logs that c is compiling, with what it builds and its usual cold time, then every
// interval while it goes on; the returned function ends the reports.
func reportBuild(log *slog.Logger, c component, version string, interval time.Duration) (done func()) {
	names := make([]string, len(c.Bins))
	for i, b := range c.Bins {
		names[i] = b.Name
	}
	attrs := []any{"component", c.Dir, "version", version, "binaries", strings.Join(names, ",")}
	if d, ok := coldBuild[c.Dir]; ok {
		attrs = append(attrs, "cold", "about "+d.String()+" on 2 cores (seconds once the Go build cache has it)")
	}
	log.Info("compiling", attrs...)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(stopped)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				log.Info("still compiling", "component", c.Dir, "elapsed", time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { cancel(); <-stopped }
}
