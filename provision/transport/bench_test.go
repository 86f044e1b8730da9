package transport

import (
	"context"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// BenchmarkSSHRunTrue measures the per-command overhead on a reused connection: one session
// per command, the PID marker, output capture. Target: ≤ 5 ms per command on loopback. It logs
// in as a test user whose login shell is /bin/sh: root's ~/.bashrc on a developer machine
// (pyenv, nvm...) runs for every ssh command and would measure that instead.
func BenchmarkSSHRunTrue(b *testing.B) {
	srv := sshtest.Start(b, sshtest.Options{User: sshtest.UserSudoNoPassword})
	s, err := DialSSH(context.Background(), configFor(srv))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := s.Run(ctx, Cmd{Command: "true"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/cmd")
}

// BenchmarkSSHRunTrueParallel: the same with commands multiplexed concurrently on the
// connection.
func BenchmarkSSHRunTrueParallel(b *testing.B) {
	srv := sshtest.Start(b, sshtest.Options{User: sshtest.UserSudoNoPassword})
	s, err := DialSSH(context.Background(), configFor(srv))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Run(context.Background(), Cmd{Command: "true"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkLocalRunTrue(b *testing.B) {
	l := NewLocal("local", SudoAuto, "")
	for i := 0; i < b.N; i++ {
		if _, err := l.Run(context.Background(), Cmd{Command: "true"}); err != nil {
			b.Fatal(err)
		}
	}
}
