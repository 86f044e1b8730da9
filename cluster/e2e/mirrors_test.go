package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/cluster/standin"
	"github.com/meshlab/meshlab/internal/image"
	"github.com/meshlab/meshlab/lab/stack"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/versions"
)

// Ports of the stand-in for the internet on the lab's bridge address.
const (
	registryPort = "5000"
	aptPort      = "8080"
)

// internet is the local stand-in for the internet of one lab, on its bridge address only: the
// registry serving every image under its upstream name, and the signed apt repositories
// (Debian's archive and pkgs.k8s.io), with the release files of the online bundle beside them.
type internet struct {
	addr     string // the bridge address
	regBin   string
	regDir   string
	reg      *standin.Registry
	aptRoot  string
	apt      *standin.Server
	key      *standin.Key
	keyFile  string
	digests  map[string]string // image → digest pushed
	releases []versions.Download
}

// bridgeAddress is the host's address on the lab's bridge: the first of its subnet.
func bridgeAddress(t *testing.T, subnet string) string {
	t.Helper()
	p, err := netip.ParsePrefix(subnet)
	if err != nil {
		t.Fatalf("lab subnet %q: %v", subnet, err)
	}
	return p.Masked().Addr().Next().String()
}

// openToLab lets the lab's machines connect to the stand-in's ports on the bridge address. The
// local lab rejects every connection from a machine to this host (its INPUT rules; a lab never
// needs one), and the stand-in for the internet is, unlike the real one, on this host: one
// ACCEPT rule ahead of the lab's, for these ports on the lab's bridge only, removed afterwards.
func openToLab(t *testing.T, ctx context.Context, bridge string, ports ...string) {
	t.Helper()
	rule := []string{"INPUT", "-i", bridge, "-p", "tcp", "-m", "multiport", "--dports", strings.Join(ports, ","),
		"-m", "comment", "--comment", "meshlab e2e stand-in internet", "-j", "ACCEPT"}
	if out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w", "-I"}, rule...)...).CombinedOutput(); err != nil {
		t.Fatalf("open the stand-in's ports to the lab: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("iptables", append([]string{"-w", "-D"}, rule...)...).CombinedOutput(); err != nil {
			t.Errorf("remove the stand-in's INPUT rule: %v: %s", err, out)
		}
	})
}

// startInternet builds and starts the stand-in from the bundle built from source and this
// meshlab binary.
func startInternet(t *testing.T, ctx context.Context, c *cli) *internet {
	t.Helper()
	for _, tool := range []string{"apt-ftparchive", "gpg", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s for the stand-in apt repositories: tools/install-deps.sh", tool)
		}
	}
	regBin, missing := standin.RegistryBinary(standin.CacheDir())
	if missing != "" {
		t.Skip(missing)
	}
	start := time.Now()
	in := &internet{addr: bridgeAddress(t, c.lab.Subnet), regBin: regBin, regDir: t.TempDir(), aptRoot: t.TempDir(),
		digests: map[string]string{}}
	openToLab(t, ctx, c.lab.Bridge, registryPort, aptPort)
	var err error
	if in.reg, err = standin.StartRegistry(ctx, regBin, in.addr+":"+registryPort, in.regDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.stop) // whichever registry and server run by then

	set := versions.Default()
	work := t.TempDir()
	meshTar := filepath.Join(work, "meshlab-image.tar")
	const meshRef = "meshlab.local/meshlab:standin"
	err = stack.BuildImage(ctx, c.bin, filepath.Join(c.base, "meshlab-proxy"), meshRef,
		filepath.Join(bundle.DefaultCacheRoot(os.Getenv), "netfilter"), meshTar)
	if err != nil {
		t.Fatal(err)
	}
	meshImg, err := image.ReadTarball(meshTar, meshRef)
	if err != nil {
		t.Fatal(err)
	}
	busybox, err := standin.Busybox(ctx, standin.CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := standin.UpstreamImages(c.bundle, set, meshImg, busybox, work)
	if err != nil {
		t.Fatal(err)
	}
	for ref, img := range imgs {
		if in.digests[ref], err = in.reg.Push(ctx, ref, img); err != nil {
			t.Fatal(err)
		}
	}

	if in.key, err = standin.NewKey(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.key.Close)
	in.keyFile = filepath.Join(t.TempDir(), "standin.asc")
	if err := os.WriteFile(in.keyFile, in.key.Public, 0o644); err != nil {
		t.Fatal(err)
	}
	kubeDebs, err := standin.KubernetesDebs(ctx, c.bundle, set, filepath.Join(work, "debs"), filepath.Join(work, "deb-trees"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := standin.FlatRepo(ctx, in.aptRoot, "core:/stable:/"+set.Kubernetes.Repo+"/deb", kubeDebs, in.key); err != nil {
		t.Fatal(err)
	}
	// Debian's packages the lab machines need (the container runtime and what it and the
	// kubelet depend on), as apt-get download fetched them for the bundle.
	debianDebs, _ := filepath.Glob(filepath.Join(c.bundle, bundle.DirDebs, "*.deb"))
	if len(debianDebs) == 0 {
		t.Fatalf("the bundle %s has no .debs to serve as Debian's archive", c.bundle)
	}
	if _, err := standin.DebianRepo(ctx, in.aptRoot, "debian", "bookworm", debianDebs, in.key); err != nil {
		t.Fatal(err)
	}
	in.releases = releaseFiles(t, c.bundle, in.aptRoot, "http://"+in.addr+":"+aptPort)
	if in.apt, err = standin.Serve(in.aptRoot, in.addr+":"+aptPort); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURE stand-in for the internet (registry with %d images, signed apt repositories) ready in %s",
		len(in.digests), time.Since(start).Round(time.Second))
	return in
}

// stop takes the mirrors away (the registry process ends, the repositories stop answering).
// Stopping what is stopped already is fine.
func (in *internet) stop() {
	in.reg.Stop()
	if in.apt != nil {
		in.apt.Close()
		in.apt = nil
	}
}

// restart brings them back on the same address with the same content (the test's clean-up
// stops them).
func (in *internet) restart(t *testing.T, ctx context.Context) {
	t.Helper()
	in.stop()
	var err error
	if in.reg, err = standin.StartRegistry(ctx, in.regBin, in.addr+":"+registryPort, in.regDir); err != nil {
		t.Fatal(err)
	}
	if in.apt, err = standin.Serve(in.aptRoot, in.addr+":"+aptPort); err != nil {
		t.Fatal(err)
	}
}

func (in *internet) registryMirrors() map[string]string {
	m := map[string]string{}
	for _, up := range []string{"registry.k8s.io", "docker.io", "ghcr.io"} {
		m[up] = in.reg.MirrorURL(up)
	}
	return m
}

// hostsFile is the lab's hosts file with the mirrors, and addons the stand-in has images for:
// neither Zipkin's nor Grafana's server can be built here, so Jaeger is the trace store.
func (in *internet) hostsFile(t *testing.T, c *cli) string {
	t.Helper()
	b, err := os.ReadFile(c.lab.HostsFile)
	if err != nil {
		t.Fatal(err)
	}
	apt := "http://" + in.addr + ":" + aptPort
	var s strings.Builder
	s.Write(b)
	s.WriteString("components:\n  addons: [jaeger, prometheus]\nmirrors:\n  registries:\n")
	for up, u := range in.registryMirrors() {
		fmt.Fprintf(&s, "    %s: %s\n", up, u)
	}
	fmt.Fprintf(&s, "  apt:\n    debian: {url: %s/debian, key: %s}\n", apt, in.keyFile)
	fmt.Fprintf(&s, "    kubernetes: {url: %q, key: %s}\n", apt+"/core:/stable:/"+versions.Default().Kubernetes.Repo+"/deb/", in.keyFile)
	p := filepath.Join(filepath.Dir(c.lab.HostsFile), "mirrored-hosts.yaml")
	if err := os.WriteFile(p, []byte(s.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// releaseFiles lays out meshlab's own release files (the bundle's binaries, crictl and the CNI
// plugins as tarballs, Flannel's manifest) where the online bundle downloads them, under the
// upstream hosts' paths, and returns the pinned downloads pointing there. Their digests are
// these files' own: upstream's published digests name upstream's binaries.
func releaseFiles(t *testing.T, bundleDir, root, base string) []versions.Download {
	t.Helper()
	dls, err := versions.Default().Downloads("amd64")
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(filepath.Join(bundleDir, p))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var cni []string
	entries, _ := os.ReadDir(filepath.Join(bundleDir, bundle.DirCNI))
	for _, e := range entries {
		if e.Name() != "flannel" { // containernetworking's release has no flannel plugin
			cni = append(cni, "cni/"+e.Name())
		}
	}
	content := map[string][]byte{
		"kubeadm": read("bin/kubeadm"), "kubelet": read("bin/kubelet"), "kubectl": read("bin/kubectl"),
		"crictl":           targz(t, bundleDir, []string{"bin/crictl"}),
		"cni-plugins":      targz(t, bundleDir, cni),
		"flannel-manifest": read("manifests/kube-flannel.yml"),
	}
	for i, d := range dls {
		rel := strings.TrimPrefix(strings.TrimPrefix(d.URL, "https://"), "http://")
		dst := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		b, ok := content[d.Name]
		if !ok {
			t.Fatalf("no stand-in for the release file %s", d.Name)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		dls[i].URL, dls[i].SHA256 = base+"/"+rel, hex.EncodeToString(sum[:])
	}
	return dls
}

func targz(t *testing.T, dir string, files []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: "./" + filepath.Base(f), Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// doneOn lists the hosts a task of a phase changed something on.
func doneOn(events []event.Event, phase, task string) []string {
	var hosts []string
	for _, e := range events {
		if e.Kind == event.TaskDone && e.Phase == phase && e.Task == task {
			hosts = append(hosts, e.Host)
		}
	}
	slices.Sort(hosts)
	return hosts
}

// TestUpThroughMirrors is the online path proven (issue 18): with no bundle, the lab's machines
// install from the hosts file's mirrors — a real registry and signed apt repositories on the
// lab's bridge, nothing beyond — to a verified lab; a second run changes nothing; a mirror
// taken away mid-run fails with the error contract; and an online bundle pulled from the same
// registry is what a later `up --bundle` installs from, with the mirrors gone.
func TestUpThroughMirrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 75*time.Minute)
	defer cancel()
	start := time.Now()
	c := setup(t, ctx, "e2em", 3)
	in := startInternet(t, ctx, c)
	hosts := in.hostsFile(t, c)
	created := time.Since(start)
	machines := make([]string, 0, len(c.lab.Machines))
	for _, m := range c.lab.Machines {
		machines = append(machines, m.Name)
	}
	slices.Sort(machines)

	upArgs := func(verify string, extra ...string) []string {
		return append([]string{"up", "--hosts", hosts, "--verify", verify}, extra...)
	}
	events, took, err := c.run(ctx, nil, upArgs("full")...)
	if err != nil {
		t.Fatalf("up through the mirrors: %v\n%s", err, verifyRows(events))
	}
	t.Logf("MEASURE whole lab through the mirrors, no bundle (3 nodes): lab create + stand-in %s + up (apt installs, pulls, mesh, addons, Bookinfo, full verify) %s",
		created.Round(time.Second), took.Round(time.Second))
	t.Logf("verify rows:\n%s", verifyRows(events))
	for _, task := range []struct{ phase, name string }{
		{"mirrors", "Use the Debian mirror"}, {"mirrors", "Use the registry mirrors"},
		{"container-runtime", "Install the pinned runtime packages"},
		{"kubernetes", "Install kubeadm, kubelet and kubectl from pkgs.k8s.io"},
	} {
		if got := doneOn(events, task.phase, task.name); !slices.Equal(got, machines) {
			t.Errorf("%s/%s ran on %v, want every machine %v", task.phase, task.name, got, machines)
		}
	}
	// The control plane's images are pulled where kubeadm init runs; the workers pull what they
	// run when they run it.
	if got := doneOn(events, "kubernetes", "Pre-pull the Kubernetes images"); !slices.Equal(got, machines[:1]) {
		t.Errorf("kubernetes/Pre-pull the Kubernetes images ran on %v, want the init host %s only", got, machines[0])
	}
	for _, e := range events {
		if e.Phase == "bundle" || strings.Contains(e.Task, "from the bundle") && e.Kind == event.TaskDone {
			t.Errorf("a bundle step ran without --bundle: %s %s", e.Phase, e.Task)
		}
		if e.Phase == "verify" && e.Kind == event.TaskFail {
			t.Errorf("verify %s failed", e.Task)
		}
	}
	checkInstalledFromMirrors(t, ctx, c, machines[len(machines)-1])

	t.Run("second up changes nothing", func(t *testing.T) {
		events, again, err := c.run(ctx, nil, upArgs("quick")...)
		if err != nil {
			t.Fatalf("second up: %v", err)
		}
		t.Logf("MEASURE second up through the mirrors (quick verify): %s", again.Round(time.Second))
		var changed []string
		for _, d := range changedTasks(events) {
			if _, pt, _ := strings.Cut(d, " "); !strings.HasPrefix(pt, "verify/") {
				changed = append(changed, d)
			}
		}
		if len(changed) > 0 {
			t.Errorf("the second up changed things: %v", changed)
		}
	})

	t.Run("mirrors taken away mid-run", func(t *testing.T) {
		victim, initHost := machines[len(machines)-1], machines[0]
		// A package the next run must fetch again on a worker, and an image on the init host
		// (the only one that pre-pulls the control plane's images).
		// apt-get clean: apt would otherwise reinstall kubectl from its own cache of downloads.
		mustExec(t, ctx, c, victim, "sh", "-c", "apt-mark unhold kubectl >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get remove -y -q kubectl && apt-get clean")
		mustExec(t, ctx, c, initHost, "ctr", "-n", "k8s.io", "images", "rm", "registry.k8s.io/kube-scheduler:"+versions.Default().Kubernetes.Version)
		defer in.restart(t, ctx) // the next subtest needs them, whatever happens here

		var once sync.Once
		events, _, err := c.run(ctx, func(e event.Event) {
			if e.Kind == event.PhaseStart && e.Phase == "kubernetes" {
				once.Do(in.stop)
			}
		}, upArgs("off")...)
		if err == nil {
			t.Fatal("up succeeded although the mirrors were gone")
		}
		fail := failureOf(events, victim)
		if fail == nil {
			t.Fatalf("no task.fail event names %s; error: %v", victim, err)
		}
		t.Logf("failure contract (apt): host=%s phase=%s task=%q message=%q hint=%q log=%s",
			fail.Host, fail.Phase, fail.Task, fail.Error.Message, fail.Error.Hint, fail.Error.LogPath)
		aptErr := fail.Error.Message + "\n" + strings.Join(fail.Error.Stderr, "\n")
		if fail.Phase != "kubernetes" || fail.Task != "Install kubeadm, kubelet and kubectl from pkgs.k8s.io" ||
			fail.Error.Hint == "" || fail.Error.LogPath == "" || !strings.Contains(aptErr, in.addr+":"+aptPort) {
			t.Errorf("the failure does not name the phase, the apt task, the mirror apt could not reach, a hint and a log: %+v", fail.Error)
		}

		// apt back, the registry still gone: the image pull fails next, on the init host.
		in.restart(t, ctx)
		in.reg.Stop()
		events, _, err = c.run(ctx, nil, upArgs("off")...)
		fail = failureOf(events, initHost)
		if err == nil || fail == nil {
			t.Fatalf("up without the registry: err=%v, no failure on %s", err, initHost)
		}
		t.Logf("failure contract (pull): host=%s phase=%s task=%q message=%q hint=%q",
			fail.Host, fail.Phase, fail.Task, fail.Error.Message, fail.Error.Hint)
		pullErr := fail.Error.Message + "\n" + strings.Join(fail.Error.Stderr, "\n")
		if fail.Task != "Pre-pull the Kubernetes images" || fail.Error.Hint == "" || !strings.Contains(pullErr, in.addr+":"+registryPort) {
			t.Errorf("the failure does not name the pull task, the registry mirror and a hint: %+v", fail.Error)
		}

		in.restart(t, ctx)
		if _, _, err := c.run(ctx, nil, upArgs("quick")...); err != nil {
			t.Fatalf("up with the mirrors back: %v", err)
		}
	})

	t.Run("online bundle from the mirrors, then up from it without them", func(t *testing.T) {
		testOnlineBundle(t, ctx, c, in, hosts, machines)
	})
}

// checkInstalledFromMirrors looks at one machine: packages at the pinned versions from the
// mirrors and held, and the images containerd pulled under their upstream names.
func checkInstalledFromMirrors(t *testing.T, ctx context.Context, c *cli, machine string) {
	t.Helper()
	s := versions.Default()
	out := mustExec(t, ctx, c, machine, "dpkg-query", "-W", "-f=${Package}=${Version}\n", "kubeadm", "kubelet", "kubectl", "kubernetes-cni", "containerd", "runc")
	for _, want := range []string{"kubeadm=" + s.Kubernetes.Package, "kubelet=" + s.Kubernetes.Package, "kubectl=" + s.Kubernetes.Package,
		"containerd=" + s.DebianRuntime.Containerd, "runc=" + s.DebianRuntime.Runc, "kubernetes-cni="} {
		if !strings.Contains(out, want) {
			t.Errorf("%s: installed %q lacks %s", machine, out, want)
		}
	}
	held := mustExec(t, ctx, c, machine, "apt-mark", "showhold")
	for _, p := range []string{"containerd", "runc", "kubeadm", "kubelet", "kubectl"} {
		if !slices.Contains(strings.Fields(held), p) {
			t.Errorf("%s: %s is not held (held: %s)", machine, p, held)
		}
	}
	imgs := mustExec(t, ctx, c, machine, "ctr", "-n", "k8s.io", "images", "ls", "-q")
	for _, want := range []string{s.Images.Pause, "registry.k8s.io/kube-proxy:" + s.Kubernetes.Version, s.Flannel.Image, s.Flannel.CNIPlugin} {
		if !strings.Contains(imgs, want+"\n") {
			t.Errorf("%s: containerd has no %s:\n%s", machine, want, imgs)
		}
	}
	if out := mustExec(t, ctx, c, machine, "sh", "-c", "ls /etc/apt/sources.list.d; cat /etc/apt/sources.list 2>/dev/null || true"); strings.Contains(out, "deb.debian.org") {
		t.Errorf("%s: apt still reads the internet's Debian sources:\n%s", machine, out)
	}
}

func mustExec(t *testing.T, ctx context.Context, c *cli, machine string, argv ...string) string {
	t.Helper()
	out, err := c.mgr.Exec(ctx, c.lab.Name, machine, argv...)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", machine, strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// testOnlineBundle builds an online bundle from the stand-in (release files over HTTP, images
// from the registry through the mirror URLs, pulled by upstream name), checks the digests it
// recorded, sees a tampered blob refused, then takes the mirrors away and runs `up --bundle`
// on the lab: the images come from the bundle alone.
func testOnlineBundle(t *testing.T, ctx context.Context, c *cli, in *internet, hosts string, machines []string) {
	set := versions.Default()
	var images []string
	for _, ref := range set.LabImages() {
		if ref != set.Addons.Zipkin && ref != set.Addons.Grafana { // no server of either can be built here
			images = append(images, ref)
		}
	}
	opts := func(out string, images []string) bundle.OnlineOptions {
		o := bundle.OnlineOptions{Out: out, Downloads: in.releases, Images: images, Versions: map[string]string{"kubernetes": set.Kubernetes.Version},
			Puller: bundle.Puller{Mirrors: in.registryMirrors(), MirrorsOnly: true},
			Debs:   bundle.RuntimeDebs(set), DebCache: filepath.Join(filepath.Dir(c.bundle), "debs-download")}
		if _, err := os.Stat(o.DebCache); err != nil {
			o.DebCache = "" // apt-get download, from Debian's archive
		}
		return o
	}
	out := filepath.Join(c.base, "online-bundle")
	start := time.Now()
	m, err := bundle.BuildOnline(ctx, opts(out, images))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURE online bundle build from the local registry (%d images, release files, runtime .debs): %s",
		len(m.Images), time.Since(start).Round(time.Second))
	for _, ref := range images {
		if m.ImageDigests[ref] == "" || m.ImageDigests[ref] != in.digests[ref] {
			t.Errorf("%s: bundle recorded %q, the registry serves %q", ref, m.ImageDigests[ref], in.digests[ref])
		}
	}
	if _, err := bundle.Verify(out); err != nil {
		t.Fatalf("bundle verify: %v", err)
	}

	// A blob changed in the registry's storage: pulling that image again is refused.
	pause := set.Images.Pause
	blob := layerBlob(t, in, pause)
	orig, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(orig)
	tampered[len(tampered)/2] ^= 0xff
	if err := os.WriteFile(blob, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = bundle.BuildOnline(ctx, opts(t.TempDir(), []string{pause}))
	if err := os.WriteFile(blob, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err == nil || !strings.Contains(err.Error(), pause) || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("a tampered blob was not refused: %v", err)
	} else {
		t.Logf("tampered blob refused: %v", err)
	}

	// The mirrors go away and the images leave the machines (pause stays: every sandbox uses it).
	in.stop()
	for _, node := range machines {
		var refs []string
		for ref := range m.Images {
			if ref != pause {
				refs = append(refs, ref)
			}
		}
		if _, err := c.mgr.Exec(ctx, c.lab.Name, node, append([]string{"ctr", "-n", "k8s.io", "images", "rm"}, refs...)...); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) { // some were never on this node
				t.Fatal(err)
			}
		}
	}
	events, took, err := c.run(ctx, nil, "up", "--hosts", hosts, "--bundle", out, "--verify", "quick")
	if err != nil {
		t.Fatalf("up from the online bundle without the mirrors: %v\n%s", err, verifyRows(events))
	}
	t.Logf("MEASURE up from the online bundle on the lab, mirrors gone (upload, import, quick verify): %s", took.Round(time.Second))
	if got := doneOn(events, "kubernetes", "Import the bundle's images into containerd"); !slices.Equal(got, machines) {
		t.Errorf("the bundle's images were imported on %v, want every machine %v", got, machines)
	}
	for _, e := range events {
		if e.Phase == "verify" && e.Kind == event.TaskFail {
			t.Errorf("verify %s failed: %s", e.Task, e.Error.Message)
		}
	}
	imgs := mustExec(t, ctx, c, machines[0], "ctr", "-n", "k8s.io", "images", "ls")
	for _, ref := range []string{set.Bookinfo.Image("reviews-v3"), set.Flannel.CNIPlugin} {
		if !strings.Contains(imgs, ref) || !strings.Contains(imgs, m.ImageDigests[ref]) {
			t.Errorf("%s is not on %s with the bundle's digest %s:\n%s", ref, machines[0], m.ImageDigests[ref], imgs)
		}
	}
}

// layerBlob is the registry's file holding the first layer of ref.
func layerBlob(t *testing.T, in *internet, ref string) string {
	t.Helper()
	up, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	at, err := name.NewDigest(in.reg.Addr+"/"+up.RegistryStr()+"/"+up.RepositoryStr()+"@"+in.digests[ref], name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(at)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("%s: no layers: %v", ref, err)
	}
	d, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	p, err := in.reg.Blob(d.String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}
