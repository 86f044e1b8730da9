package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// BenchmarkUpSample measures the wall time of `meshlab up` with the 10-task sample playbook on 1,
// 20 and 50 real sshd hosts (each iteration starts from a clean lab: no state, no files), with
// the default concurrency (10) and with one slot per host. Run:
//
//	go test -run '^$' -bench BenchmarkUpSample -benchtime 3x ./cmd/meshlab/
//
// ms/up is the figure to compare: the target is 50 hosts within 1.5x of 1 host (at concurrency
// 50; at the default 10, 50 hosts take about five waves).
func BenchmarkUpSample(b *testing.B) {
	for _, c := range []struct{ hosts, concurrency int }{{1, 10}, {20, 10}, {20, 20}, {50, 10}, {50, 50}} {
		b.Run(fmt.Sprintf("hosts=%d/concurrency=%d", c.hosts, c.concurrency), func(b *testing.B) {
			// A non-root login: root's shell start-up on these machines (~/.bashrc runs pyenv)
			// costs more than the commands themselves and would be measured instead of meshlab.
			l := startLab(b, c.hosts, sshtest.Options{User: sshtest.UserSudoNoPassword})
			ctx := context.Background()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				os.RemoveAll(filepath.Join("/home", sshtest.UserSudoNoPassword, ".meshlab-sample", l.name))
				l.logDir = b.TempDir()
				b.StartTimer()
				start := time.Now()
				r := l.run(ctx, "up", "--concurrency", strconv.Itoa(c.concurrency))
				total += time.Since(start)
				if r.code != exitOK {
					b.Fatalf("up exit %d\n%s", r.code, r.stderr)
				}
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/up")
		})
	}
}
