package sshtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

// Key types accepted by Options.KeyType.
const (
	KeyED25519 = "ed25519"
	KeyECDSA   = "ecdsa"
	KeyRSA     = "rsa"
)

// KeyPair is a generated key written to disk in OpenSSH format.
type KeyPair struct {
	Path      string        // private key file (0600), OpenSSH format, encrypted if a passphrase was given
	PublicKey ssh.PublicKey // matching public key
	Signer    ssh.Signer    // ready-to-use signer (unencrypted), for agents and raw clients
}

// AuthorizedLine is the public key as one authorized_keys / agent line.
func (k KeyPair) AuthorizedLine() string {
	return string(ssh.MarshalAuthorizedKey(k.PublicKey))
}

// GenerateKey creates a key of the given type ("" means ed25519) and writes it to path with mode
// 0600. A non-empty passphrase encrypts the file the way `ssh-keygen -N` does.
func GenerateKey(keyType, path string, passphrase []byte) (KeyPair, error) {
	priv, err := newPrivateKey(keyType)
	if err != nil {
		return KeyPair{}, err
	}
	var block *pem.Block
	if len(passphrase) > 0 {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "meshlab-sshtest", passphrase)
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "meshlab-sshtest")
	}
	if err != nil {
		return KeyPair{}, fmt.Errorf("marshal %s key: %w", keyType, err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return KeyPair{}, fmt.Errorf("write key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return KeyPair{}, fmt.Errorf("signer for %s key: %w", keyType, err)
	}
	return KeyPair{Path: path, PublicKey: signer.PublicKey(), Signer: signer}, nil
}

func newPrivateKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case "", KeyED25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case KeyECDSA:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyRSA:
		// 2048 bits keeps generation fast; the tests are about the signature algorithm
		// (rsa-sha2-256/512), not the key size.
		return rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("unknown key type %q (want %s, %s or %s)", keyType, KeyED25519, KeyECDSA, KeyRSA)
	}
}
