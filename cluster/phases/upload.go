package phases

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/transport"
)

// uploadDirs are the bundle folders every host needs (manifests/ stays on the operator's side:
// meshlab applies them through the API).
var uploadDirs = []string{bundle.DirBin, bundle.DirCNI, bundle.DirDebs, bundle.DirImages}

// UploadBundle copies the offline bundle's files to every host over SFTP, skipping files whose
// sha256 on the host already matches the manifest. Before anything is sent, the local bundle is
// verified against its manifest (`meshlab cluster bundle verify`): a file changed or added since
// the build stops the run. After an upload the host's copies are checked again, so a file
// damaged on the way fails here and not in a later dpkg or kubelet.
type UploadBundle struct{ plan *plan }

func (*UploadBundle) Title() string { return "Upload the offline bundle" }
func (*UploadBundle) Name() string  { return "bundle" }

const uploadTask = "Upload bundle files"

func (u *UploadBundle) files() []bundle.File {
	var out []bundle.File
	for _, f := range u.plan.manifest.Files {
		dir, _, _ := strings.Cut(f.Path, "/")
		for _, d := range uploadDirs {
			if dir == d {
				out = append(out, f)
			}
		}
	}
	return out
}

// verifyTask is the lab-wide step that checks the local bundle before any upload.
const verifyTask = "Verify the bundle against its manifest"

func (u *UploadBundle) verify(r *engine.Run) error {
	t := newTask(r, nil, "bundle", verifyTask)
	if r.DryRun {
		t.Plan("would verify every file of " + u.plan.BundleDir + " against its manifest before uploading")
		return nil
	}
	// Reading changes nothing: success is a log line, so a finished lab's re-run shows no task done.
	if _, err := bundle.Verify(u.plan.BundleDir); err != nil {
		return t.Fail("meshlab cluster bundle verify "+u.plan.BundleDir,
			"the bundle changed since it was built: rebuild it (meshlab cluster bundle build) or copy it again", err)
	}
	r.Logf(nil, "bundle", "%s: %d files match manifest.json", u.plan.BundleDir, len(u.plan.manifest.Files))
	return nil
}

func (u *UploadBundle) Run(ctx context.Context, r *engine.Run) error {
	if err := u.verify(r); err != nil {
		return err
	}
	files := u.files()
	return r.ForEachHost(ctx, r.Hosts, func(ctx context.Context, h *engine.Host) error {
		t := newTask(r, h, "bundle", uploadTask)
		if h.Transport == nil { // a dry run without --probe: nothing is known about the host
			return r.Wet(h, "bundle", uploadTask, fmt.Sprintf("would upload the bundle files the host lacks (of %d) to %s", len(files), RemoteBundleDir), nil)
		}
		stamp := stampOf(files)
		if ok, err := stamped(ctx, h, files, stamp); err != nil {
			return t.Fail("stat (bundle files on the host)", "", err)
		} else if ok {
			t.Skip("")
			return nil
		}
		stale, err := staleFiles(ctx, h, files)
		if err != nil {
			return t.Fail("sha256sum (bundle files on the host)", "", err)
		}
		var size int64
		for _, f := range stale {
			size += f.Size
		}
		msg := fmt.Sprintf("would upload %d of %d bundle files (%d MiB) to %s", len(stale), len(files), size>>20, RemoteBundleDir)
		return r.Wet(h, "bundle", uploadTask, msg, func() error {
			t.Begin(fmt.Sprintf("%d files, %d MiB", len(stale), size>>20))
			if len(stale) > 0 {
				if err := u.put(ctx, t, h, stale); err != nil {
					return err
				}
			}
			still, err := staleFiles(ctx, h, stale)
			if err != nil {
				return t.Fail("sha256sum (bundle files on the host)", "", err)
			}
			if len(still) > 0 {
				return t.Fail("sha256sum -c", "run `meshlab cluster bundle verify` on the bundle; a damaged file must be rebuilt",
					fmt.Errorf("%s on %s does not match manifest.json after upload", still[0].Path, h.Name))
			}
			if err := h.Transport.Put(ctx, strings.NewReader(stamp+"\n"), transport.Upload{Path: path.Join(RemoteBundleDir, stampFile), Mode: 0o644, Become: true}); err != nil {
				return t.Fail("sftp put "+stampFile, "", err)
			}
			if len(stale) == 0 {
				t.Done("every file was already there and intact")
				return nil
			}
			t.Done(fmt.Sprintf("uploaded %d files (%d MiB)", len(stale), size>>20))
			return nil
		})
	})
}

func (u *UploadBundle) put(ctx context.Context, t *task, h *engine.Host, files []bundle.File) error {
	dirs := map[string]bool{}
	for _, f := range files {
		dirs[path.Join(RemoteBundleDir, path.Dir(f.Path))] = true
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	sort.Strings(list)
	mkdir := "install -d -m 0755 " + quoteAll(list)
	if _, err := t.run(ctx, mkdir, time.Minute); err != nil {
		return t.Fail(mkdir, "", err)
	}
	for i, f := range files {
		remote := path.Join(RemoteBundleDir, f.Path)
		t.Waiting(fmt.Sprintf("uploading %s (%d of %d, %d MiB)", f.Path, i+1, len(files), f.Size>>20))
		if err := putFile(ctx, h, filepath.Join(u.plan.BundleDir, filepath.FromSlash(f.Path)), remote, os.FileMode(f.Mode)); err != nil {
			return t.Fail("sftp put "+remote, "", err)
		}
	}
	return nil
}

func putFile(ctx context.Context, h *engine.Host, local, remote string, mode os.FileMode) error {
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("open bundle file: %w", err)
	}
	defer f.Close()
	if mode == 0 {
		mode = 0o644
	}
	return h.Transport.Put(ctx, bufio.NewReaderSize(f, 1<<20), transport.Upload{Path: remote, Mode: mode, Become: true})
}

// stampFile records, on the host, the digest of the file list last verified there by sha256.
// A re-run that finds the same stamp and the same file sizes skips hashing a gigabyte per host;
// any difference falls back to the full sha256 comparison.
const stampFile = ".meshlab-verified"

// stampOf is a digest of the files' paths and sums: it changes whenever the bundle does.
func stampOf(files []bundle.File) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s %s %d\n", f.Path, f.SHA256, f.Size)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// stamped reports whether the host holds the stamp and every file at its size.
func stamped(ctx context.Context, h *engine.Host, files []bundle.File, stamp string) (bool, error) {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	cmd := "cd " + transport.Quote(RemoteBundleDir) + " 2>/dev/null || exit 0; cat " + stampFile +
		" 2>/dev/null || echo none; stat -c '%s %n' -- " + quoteAll(paths) + " 2>/dev/null || true"
	res, err := h.Transport.Run(ctx, transport.Cmd{Command: cmd, Become: true, Timeout: time.Minute})
	if err != nil {
		return false, err
	}
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != stamp {
		return false, nil
	}
	sizes := map[string]string{}
	for _, l := range lines[1:] {
		if size, p, ok := strings.Cut(strings.TrimSpace(l), " "); ok {
			sizes[p] = size
		}
	}
	for _, f := range files {
		if sizes[f.Path] != strconv.FormatInt(f.Size, 10) {
			return false, nil
		}
	}
	return true, nil
}

// staleFiles returns the files whose copy on the host is missing or differs from the manifest.
func staleFiles(ctx context.Context, h *engine.Host, files []bundle.File) ([]bundle.File, error) {
	if len(files) == 0 {
		return nil, nil
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	// Missing files make sha256sum exit 1; what it printed for the others still counts.
	cmd := "cd " + transport.Quote(RemoteBundleDir) + " 2>/dev/null || exit 0; sha256sum -- " + quoteAll(paths) + " 2>/dev/null || true"
	res, err := h.Transport.Run(ctx, transport.Cmd{Command: cmd, Become: true, Timeout: 5 * time.Minute})
	if err != nil {
		return nil, err
	}
	have := map[string]string{}
	for _, line := range strings.Split(res.Stdout, "\n") {
		sum, p, ok := strings.Cut(strings.TrimSpace(line), "  ")
		if ok {
			have[p] = sum
		}
	}
	var stale []bundle.File
	for _, f := range files {
		if have[f.Path] != f.SHA256 {
			stale = append(stale, f)
		}
	}
	return stale, nil
}
