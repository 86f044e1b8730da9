package state

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Logs writes the lab's log files: logs/<host>.log (every command and output line, timestamped)
// and logs/meshlab.log (the run's slog records). Every line passes through the redactor first, so
// a secret that leaks into a command's output still never reaches the disk.
type Logs struct {
	dir    string
	redact *Redactor

	mu    sync.Mutex
	files map[string]*os.File
}

// OpenLogs prepares dir/logs (0700). Files are created on first write (0600, append).
func OpenLogs(labDir string, redact *Redactor) (*Logs, error) {
	dir := filepath.Join(labDir, "logs")
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	return &Logs{dir: dir, redact: redact, files: map[string]*os.File{}}, nil
}

// HostPath is the log file of a host.
func (l *Logs) HostPath(host string) string {
	return filepath.Join(l.dir, safeName(host)+".log")
}

// RunPath is the run's slog file.
func (l *Logs) RunPath() string { return filepath.Join(l.dir, "meshlab.log") }

// Host appends one timestamped line per line of text to the host's log.
func (l *Logs) Host(host, format string, args ...any) {
	text := l.redact.Redact(fmt.Sprintf(format, args...))
	stamp := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(stamp + " " + line + "\n")
	}
	l.write(l.HostPath(host), b.String())
}

// Logger returns a slog.Logger writing JSON records to logs/meshlab.log.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		l.write(l.RunPath(), l.redact.Redact(string(p)))
		return len(p), nil
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *Logs) write(path, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.files[path]
	if f == nil {
		var err error
		f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, FileMode)
		if err != nil {
			// A log that cannot be written must not stop the run: the events still reach the user.
			return
		}
		l.files[path] = f
	}
	_, _ = io.WriteString(f, s)
}

// Close closes every open log file.
func (l *Logs) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first error
	for p, f := range l.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
		delete(l.files, p)
	}
	return first
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// safeName keeps a host name usable as a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// Redactor replaces known secrets with "[redacted]", and anything shaped like a Kubernetes
// bootstrap token (kubeadm's join token) whether or not it was known: a token printed by a tool
// meshlab runs (kubeadm init, token create) never reaches a log, an event or the state file.
// The zero value and nil redact only the token shapes.
type Redactor struct {
	secrets []string // longest first, so a secret that contains another is hidden whole
}

// NewRedactor returns a redactor for the given secrets; empty strings are ignored.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		if s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	sort.SliceStable(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

// Bootstrap tokens are "[a-z0-9]{6}.[a-z0-9]{16}" (kubeadm's token format); the flags that carry
// them or kubeadm's upload-certs key are redacted whatever their value looks like. The CA hash
// (--discovery-token-ca-cert-hash sha256:…) is public and stays, so a log still shows which
// cluster a join aimed at.
var (
	tokenShape = regexp.MustCompile(`\b[a-z0-9]{6}\.[a-z0-9]{16}\b`)
	secretFlag = regexp.MustCompile(`(--(?:token|discovery-token|tls-bootstrap-token|certificate-key)(?:=|\s+))([^\s"'\[]+)`)
)

// Redact returns s with every secret replaced.
func (r *Redactor) Redact(s string) string {
	if r != nil {
		for _, sec := range r.secrets {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = secretFlag.ReplaceAllString(s, "${1}[redacted]")
	return tokenShape.ReplaceAllString(s, "[redacted-token]")
}
