package transport

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// authPlan is the list of authentication methods for one connection attempt, in OpenSSH's
// order (publickey: agent keys then key files; keyboard-interactive; password), plus a record of
// what was skipped and what was actually tried, so that a refusal can say exactly that.
type authPlan struct {
	methods []ssh.AuthMethod
	skipped []string // "why" for every source that gave nothing
	offered []string // descriptions of the keys offered, in order
	closer  func()   // closes the agent connection after the handshake

	mu   sync.Mutex
	used []string // method names the server let us try
}

// newAuthPlan loads keys and prepares methods. It never fails: a source that cannot be used
// is recorded in skipped, and the error at the end lists it.
func newAuthPlan(cfg SSHConfig) *authPlan {
	p := &authPlan{closer: func() {}}
	var signers []ssh.Signer
	if cfg.UseAgent {
		signers = append(signers, p.agentSigners()...)
	}
	for _, path := range cfg.KeyPaths {
		if s := p.keySigner(expandHome(path), cfg.Passphrase); s != nil {
			signers = append(signers, s)
		}
	}
	// All keys go in one publickey method: x/crypto/ssh tries each method name only once, so a
	// second PublicKeys method (files after the agent) would never run.
	if len(signers) > 0 {
		p.methods = append(p.methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			p.note("publickey")
			return signers, nil
		}))
	}
	if cfg.Password != "" {
		pw := cfg.Password
		p.methods = append(p.methods,
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				p.note("keyboard-interactive")
				answers := make([]string, len(questions))
				for i := range questions {
					if !echos[i] { // a hidden prompt is the password prompt
						answers[i] = pw
					}
				}
				return answers, nil
			}),
			ssh.PasswordCallback(func() (string, error) {
				p.note("password")
				return pw, nil
			}))
	} else {
		p.skipped = append(p.skipped, "password: none given")
	}
	return p
}

func (p *authPlan) agentSigners() []ssh.Signer {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		p.skipped = append(p.skipped, "agent: SSH_AUTH_SOCK is not set")
		return nil
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		p.skipped = append(p.skipped, fmt.Sprintf("agent: cannot reach %s: %v", sock, err))
		return nil
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil || len(signers) == 0 {
		conn.Close()
		p.skipped = append(p.skipped, fmt.Sprintf("agent: no keys (%v)", err))
		return nil
	}
	p.closer = func() { conn.Close() } // signing goes through the agent during the handshake
	for _, s := range signers {
		p.offered = append(p.offered, "agent "+describeKey(s.PublicKey()))
	}
	return signers
}

func (p *authPlan) keySigner(path string, passphrase func(string) ([]byte, error)) ssh.Signer {
	pem, err := os.ReadFile(path)
	if err != nil {
		p.skipped = append(p.skipped, fmt.Sprintf("key %s: %v", path, err))
		return nil
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		signer, err = p.decrypt(path, pem, passphrase)
		if signer == nil && err == nil {
			return nil
		}
	}
	if err != nil {
		p.skipped = append(p.skipped, fmt.Sprintf("key %s: %v", path, err))
		return nil
	}
	p.offered = append(p.offered, fmt.Sprintf("key %s %s", path, describeKey(signer.PublicKey())))
	return signer
}

func (p *authPlan) decrypt(path string, pem []byte, passphrase func(string) ([]byte, error)) (ssh.Signer, error) {
	if passphrase == nil {
		p.skipped = append(p.skipped, fmt.Sprintf("key %s: encrypted and no passphrase source was given", path))
		return nil, nil
	}
	pass, err := passphrase(path)
	if err != nil {
		return nil, fmt.Errorf("get passphrase: %w", err)
	}
	defer clear(pass) // keep the passphrase in memory no longer than needed
	signer, err := ssh.ParsePrivateKeyWithPassphrase(pem, pass)
	if errors.Is(err, x509.IncorrectPasswordError) {
		return nil, errors.New("passphrase incorrect")
	}
	return signer, err
}

func (p *authPlan) note(method string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used = append(p.used, method)
}

// failure builds the ErrAuth error: what was tried, what was skipped and why.
func (p *authPlan) failure(target string, cause error) error {
	p.mu.Lock()
	used := append([]string(nil), p.used...)
	p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", target)
	if len(used) == 0 {
		b.WriteString("no method was accepted by the server or none was available")
	} else {
		b.WriteString("refused ")
		b.WriteString(strings.Join(used, ", "))
	}
	if len(p.offered) > 0 {
		fmt.Fprintf(&b, "; keys offered: %s", strings.Join(p.offered, "; "))
	}
	if len(p.skipped) > 0 {
		fmt.Fprintf(&b, "; skipped: %s", strings.Join(p.skipped, "; "))
	}
	return fmt.Errorf("%w: %s (%v)", ErrAuth, b.String(), cause)
}

func describeKey(k ssh.PublicKey) string {
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}
