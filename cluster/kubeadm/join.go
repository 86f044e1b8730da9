package kubeadm

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// DefaultTokenTTL bounds how long a join token stays valid: long enough for a slow worker to
// join, short enough that a leaked log line is worthless soon after.
const DefaultTokenTTL = 30 * time.Minute

// JoinTokenDescription marks the tokens the Join phase creates.
const JoinTokenDescription = TokenDescriptionPrefix + " worker join"

// tokenRE is the bootstrap token format kubeadm accepts ([a-z0-9]{6}.[a-z0-9]{16}).
var tokenRE = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)

// ErrNoToken is returned when `kubeadm token create` printed no token.
var ErrNoToken = errors.New("no bootstrap token in the output of kubeadm token create")

// ParseToken picks the token out of `kubeadm token create` output (the last line that is one;
// kubeadm may print warnings before it).
func ParseToken(stdout string) (string, error) {
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if t := strings.TrimSpace(lines[i]); tokenRE.MatchString(t) {
			return t, nil
		}
	}
	return "", ErrNoToken
}

// TokenCreateCommand is the control-plane command that creates a fresh token with a TTL. The
// token comes back on stdout, never in an argv.
func TokenCreateCommand(ttl time.Duration) string {
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	return fmt.Sprintf("kubeadm token create --ttl %s --description '%s'", ttl, JoinTokenDescription)
}

// CACertHash returns kubeadm's discovery hash of a CA certificate in PEM form:
// "sha256:" + hex(sha256(SubjectPublicKeyInfo)).
func CACertHash(caPEM []byte) (string, error) {
	block, _ := pem.Decode(caPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("ca.crt: no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("ca.crt: %w", err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// JoinOptions are the inputs of a worker's `kubeadm join --config`.
type JoinOptions struct {
	NodeName string
	// NodeIP is the worker's kubelet --node-ip: its address on the network the nodes share.
	NodeIP            string
	APIServerEndpoint string // host:port of the control-plane endpoint
	Token             string
	CACertHash        string // from CACertHash
	CRISocket         string
	Offline           bool
}

type joinConfiguration struct {
	typeMeta  `yaml:",inline"`
	Discovery struct {
		BootstrapToken struct {
			APIServerEndpoint string   `yaml:"apiServerEndpoint"`
			Token             string   `yaml:"token"`
			CACertHashes      []string `yaml:"caCertHashes"`
		} `yaml:"bootstrapToken"`
	} `yaml:"discovery"`
	NodeRegistration nodeRegistration `yaml:"nodeRegistration"`
}

// JoinConfig renders the JoinConfiguration. It holds the token: upload it 0600 and delete it
// after the join.
func JoinConfig(o JoinOptions) ([]byte, error) {
	if o.CRISocket == "" {
		o.CRISocket = DefaultCRISocket
	}
	var errs []error
	if o.NodeName == "" {
		errs = append(errs, errors.New("node name is empty"))
	}
	if o.APIServerEndpoint == "" {
		errs = append(errs, errors.New("API server endpoint is empty"))
	}
	if _, err := netip.ParseAddr(o.NodeIP); o.NodeIP != "" && err != nil {
		errs = append(errs, fmt.Errorf("node IP %q is not an IP address", o.NodeIP))
	}
	if !tokenRE.MatchString(o.Token) {
		errs = append(errs, errors.New("bootstrap token is malformed (want 6.16 lower-case letters and digits)")) // never echo the token
	}
	if !strings.HasPrefix(o.CACertHash, "sha256:") {
		errs = append(errs, fmt.Errorf("CA hash %q lacks the sha256: prefix", o.CACertHash))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("kubeadm join config: %w", err)
	}
	jc := joinConfiguration{typeMeta: typeMeta{APIVersion, "JoinConfiguration"}}
	jc.Discovery.BootstrapToken.APIServerEndpoint = o.APIServerEndpoint
	jc.Discovery.BootstrapToken.Token = o.Token
	jc.Discovery.BootstrapToken.CACertHashes = []string{o.CACertHash}
	jc.NodeRegistration = registration(o.NodeName, o.NodeIP, o.CRISocket, o.Offline, nil)
	return documents(jc)
}
