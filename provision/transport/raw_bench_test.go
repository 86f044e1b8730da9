package transport

import (
	"testing"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// BenchmarkRawSessionTrue is the floor: a bare x/crypto/ssh session running `true`, no
// transport. The difference to BenchmarkSSHRunTrue is the transport's own overhead.
func BenchmarkRawSessionTrue(b *testing.B) {
	srv := sshtest.Start(b, sshtest.Options{User: sshtest.UserSudoNoPassword})
	c := srv.Dial(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sess, err := c.NewSession()
		if err != nil {
			b.Fatal(err)
		}
		if err := sess.Run("true"); err != nil {
			b.Fatal(err)
		}
		sess.Close()
	}
}
