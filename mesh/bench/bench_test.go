package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sidecarCommand and helperBinary are prepared by TestMain for the benchmark: both run inside
// the pods as other users, so they live in a directory everyone can read. sidecarCommand is the
// argv prefix of the sidecar's `proxy` and `init` commands: the slim binary alone
// (meshlab-proxy) or the full binary with its "mesh" group.
var (
	sidecarCommand []string
	pilotCommand   []string // the full binary's `mesh`, for the mutual TLS cases' control plane
	helperBinary   string
)

func TestMain(m *testing.M) {
	if HelperRole() != "" {
		// A helper process inside a pod: do its job and exit before the testing package prints.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := RunHelper(ctx, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	flag.Parse()
	os.Exit(func() int {
		if os.Geteuid() != 0 || testing.Short() || !benchRequested() {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "meshlab-bench-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if err := prepareBinaries(dir); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		return m.Run()
	}())
}

// benchRequested is true when -run selects the benchmark by name, so that `go test` of this
// module alone does not build meshlab for nothing.
func benchRequested() bool {
	r := flag.Lookup("test.run").Value.String()
	return strings.Contains(r, "DataPlane")
}

func prepareBinaries(dir string) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	// MESHLAB_PROXY_BIN (the slim sidecar binary, what injected pods run) wins over MESHLAB_BIN
	// (the full binary, `meshlab mesh proxy`); with neither, the slim binary is built.
	slim, full := os.Getenv("MESHLAB_PROXY_BIN"), os.Getenv("MESHLAB_BIN")
	if full != "" {
		pilotCommand = []string{full, "mesh"}
	} else {
		bin := filepath.Join(dir, "meshlab")
		build := exec.Command("go", "build", "-o", bin, "./cmd/meshlab")
		build.Dir = "../.."
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build meshlab for the control plane (or set MESHLAB_BIN): %w\n%s", err, out)
		}
		pilotCommand = []string{bin, "mesh"}
	}
	switch {
	case slim != "":
		bin := filepath.Join(dir, "meshlab-proxy")
		if err := copyFile(slim, bin); err != nil {
			return err
		}
		sidecarCommand = []string{bin}
	case full != "":
		bin := filepath.Join(dir, "meshlab")
		if err := copyFile(full, bin); err != nil {
			return err
		}
		sidecarCommand = []string{bin, "mesh"}
	default:
		// The parent module's main package; this module does not import it, it runs it.
		bin := filepath.Join(dir, "meshlab-proxy")
		build := exec.Command("go", "build", "-o", bin, "./cmd/meshlab-proxy")
		build.Dir = "../.."
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build meshlab-proxy (or set MESHLAB_PROXY_BIN or MESHLAB_BIN): %w\n%s", err, out)
		}
		sidecarCommand = []string{bin}
	}
	helperBinary = filepath.Join(dir, "bench-helper")
	return copyFile(os.Args[0], helperBinary)
}

// copyFile copies an executable in 32 KiB writes, as containerd writes a binary when it unpacks
// an image layer. How a file was written shapes its page cache (one 40 MiB write makes large
// folios, and the kernel maps a whole folio on a fault), and so the file-backed part of the RSS
// the benchmark reports: copying the way a node gets the sidecar binary measures what a node sees.
func copyFile(from, to string) (err error) {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	_, err = io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, make([]byte, 32<<10))
	return err
}

// loadDuration is MESHLAB_BENCH_DURATION (default 60s, Istio's recipe needs at least that for the
// reported figures; a few seconds is enough to check that the harness works).
func loadDuration(t *testing.T) time.Duration {
	s := os.Getenv("MESHLAB_BENCH_DURATION")
	if s == "" {
		return 60 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("MESHLAB_BENCH_DURATION=%q: want a positive Go duration such as 60s", s)
	}
	return d
}

// TestDataPlaneBenchmark runs direct, meshlab and HAProxy cases in two network-namespace pods,
// once per load shape (MESHLAB_BENCH_SHAPE: "istio", "herd" or both, the default), and prints a
// table per shape (run with -v, or via `make bench`). It fails only when the harness fails
// or a request fails, never on the figures: those are for people to read, targets included.
func TestDataPlaneBenchmark(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark: runs minutes of load (drop -short; `make bench`)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and iptables: run as root or via .ci/run")
	}
	for _, tool := range []string{"ip", "iptables", "setpriv", "ss", "haproxy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt packages iproute2, iptables, util-linux, haproxy)", tool)
		}
	}
	if sidecarCommand == nil {
		t.Skip("run it by name (-run TestDataPlaneBenchmark) so that TestMain builds meshlab-proxy")
	}
	dir, err := os.MkdirTemp("", "meshlab-bench-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("configs and logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	d := loadDuration(t)
	shapes, err := ParseShapes(os.Getenv("MESHLAB_BENCH_SHAPE"))
	if err != nil {
		t.Fatalf("MESHLAB_BENCH_SHAPE: %v", err)
	}
	var report strings.Builder
	for _, shape := range shapes {
		lab, err := NewLab("b1", netip.MustParsePrefix("10.216.0.0/24"))
		if err != nil {
			t.Fatal(err)
		}
		h := &Harness{
			Lab: lab, Sidecar: sidecarCommand, Pilot: pilotCommand, ProxyArgs: strings.Fields(os.Getenv("MESHLAB_BENCH_PROXY_ARGS")),
			ProxyEnv: strings.Fields(os.Getenv("MESHLAB_BENCH_PROXY_ENV")),
			Helper:   []string{helperBinary}, Dir: dir,
			Load:   LoadOptions{QPS: 1000, Connections: 16, Duration: d, Shape: shape},
			Warmup: min(5*time.Second, d/4),
			Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		}
		// A bound on the whole run, which has seven cases; each case has its own (runCase).
		ctx, cancel := context.WithTimeout(context.Background(), 10*d+10*time.Minute)
		results, err := h.Run(ctx)
		cancel()
		if err != nil {
			t.Fatalf("benchmark (load shape %s): %v", shape, err)
		}
		var b strings.Builder
		if err := Render(&b, h.Load, results); err != nil {
			t.Fatal(err)
		}
		b.WriteString("\n")
		for _, line := range IssueTargets.Check(results) {
			b.WriteString(line + "  [" + string(shape) + "]\n")
		}
		for _, line := range MTLSTargets.Check(results) {
			b.WriteString(line + "  [" + string(shape) + ", mutual TLS]\n")
		}
		fmt.Fprint(os.Stdout, "\n"+b.String())
		report.WriteString(b.String() + "\n")
		for _, r := range results {
			if r.Load.Errors > 0 {
				t.Errorf("load shape %s, case %s: %d of %d requests failed", shape, r.Case, r.Load.Errors, r.Load.Requests)
			}
		}
	}
	if out := os.Getenv("MESHLAB_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(report.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// testWriter sends the harness's log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

var _ io.Writer = testWriter{}
