package locallab

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// keyPair is an ed25519 key in the two forms files need: OpenSSH private key PEM and an
// authorized_keys / known_hosts public line.
type keyPair struct {
	PrivatePEM []byte
	Public     ssh.PublicKey
}

// AuthorizedLine is the public key as one authorized_keys line (with a newline).
func (k keyPair) AuthorizedLine() []byte { return ssh.MarshalAuthorizedKey(k.Public) }

func newKeyPair(comment string) (keyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("generate ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return keyPair{}, fmt.Errorf("encode private key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return keyPair{}, fmt.Errorf("encode public key: %w", err)
	}
	return keyPair{PrivatePEM: pem.EncodeToMemory(block), Public: sshPub}, nil
}

// knownHostsLine is the known_hosts entry of one machine: its address and name, port 22.
func knownHostsLine(addresses []string, key ssh.PublicKey) string {
	return strings.Join(addresses, ",") + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) + "\n"
}

// newMachineID returns a random /etc/machine-id value (32 lower-case hex digits).
func newMachineID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("machine-id: %w", err)
	}
	return hex.EncodeToString(b), nil
}
