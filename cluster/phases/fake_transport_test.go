package phases

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/transport"
)

// fakeHost is a Transport answering commands by their first matching prefix and recording
// every command and upload.
type fakeHost struct {
	name    string
	mu      sync.Mutex
	answers []answer
	ran     []string
	puts    map[string]putRecord
	files   map[string][]byte
}

type answer struct {
	prefix   string // the command starts with it (or has a line starting with it), or contains it
	contains string
	stdout   string
	exit     int
	once     bool // answered once, then the next matching answer takes over
}

type putRecord struct {
	data string
	mode fs.FileMode
}

var _ transport.Transport = (*fakeHost)(nil)

func newFake(name string, answers ...answer) *fakeHost {
	return &fakeHost{name: name, answers: answers, puts: map[string]putRecord{}, files: map[string][]byte{}}
}

func (f *fakeHost) Run(_ context.Context, c transport.Cmd) (transport.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ran = append(f.ran, c.Command)
	if strings.Contains(c.Command, "sha256sum -- ") {
		return transport.Result{Stdout: f.sums(c.Command)}, nil
	}
	for i, a := range f.answers {
		match := a.prefix != "" && (strings.HasPrefix(c.Command, a.prefix) || strings.Contains(c.Command, "\n"+a.prefix))
		if a.contains != "" && strings.Contains(c.Command, a.contains) {
			match = true
		}
		if match {
			if a.once {
				f.answers = append(f.answers[:i:i], f.answers[i+1:]...)
			}
			res := transport.Result{Stdout: a.stdout, ExitStatus: a.exit}
			if a.exit != 0 {
				return res, &transport.ExitError{ExitStatus: a.exit, Stderr: "boom from " + f.name}
			}
			return res, nil
		}
	}
	return transport.Result{}, nil
}

func (f *fakeHost) Put(_ context.Context, r io.Reader, u transport.Upload) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts[u.Path] = putRecord{string(b), u.Mode}
	return nil
}

func (f *fakeHost) Get(_ context.Context, p string, _ bool) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.files[p]; ok {
		return b, nil
	}
	return nil, fs.ErrNotExist
}

// sums answers `cd DIR; sha256sum -- FILES` from the files the host holds (files, then puts).
func (f *fakeHost) sums(cmd string) string {
	_, args, _ := strings.Cut(cmd, "sha256sum -- ")
	args, _, _ = strings.Cut(args, " 2>")
	var out strings.Builder
	for _, p := range strings.Fields(args) {
		p = strings.Trim(p, "'")
		full := "/var/lib/meshlab/bundle/" + p
		data, ok := f.files[full]
		if put, done := f.puts[full]; done {
			data, ok = []byte(put.data), true
		}
		if ok {
			sum := sha256.Sum256(data)
			fmt.Fprintf(&out, "%s  %s\n", hex.EncodeToString(sum[:]), p)
		}
	}
	return out.String()
}

func (f *fakeHost) Name() string { return f.name }
func (f *fakeHost) Close() error { return nil }

func (f *fakeHost) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ran...)
}

func countPrefix(cmds []string, prefix string) int {
	n := 0
	for _, c := range cmds {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
