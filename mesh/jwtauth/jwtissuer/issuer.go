// Package jwtissuer makes JSON Web Tokens with a key of its own: what `meshlab verify bookinfo`'s
// JWT check and the tests need to stand in for an identity provider (Istio's JWT task uses a
// fixed key from its samples; a key made per run is not in any repository).
package jwtissuer

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"

	jose "github.com/go-jose/go-jose/v4"
)

// Issuer signs tokens with one RSA key, named by KeyID in the tokens' headers and its JWKS.
type Issuer struct {
	key   *rsa.PrivateKey
	keyID string
}

// New makes an issuer with a fresh 2048-bit RSA key.
func New(keyID string) (*Issuer, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &Issuer{key: k, keyID: keyID}, nil
}

// JWKS is the key set a RequestAuthentication's jwks field takes.
func (i *Issuer) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &i.key.PublicKey, KeyID: i.keyID, Algorithm: "RS256", Use: "sig"}}}
}

// Sign returns a compact RS256 JWT carrying the claims.
func (i *Issuer) Sign(claims map[string]any) (string, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: i.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", i.keyID))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}
