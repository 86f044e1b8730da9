// Package state keeps what meshlab knows about one lab between runs: which tasks finished on which
// host (state.json) and the full logs of every run (logs/). It lives in ~/.meshlab/labs/<name>/.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Permissions: state and logs may hold host names, commands and output; keep them private.
const (
	DirMode  os.FileMode = 0o700
	FileMode os.FileMode = 0o600
)

// FileName is the state file inside a lab directory.
const FileName = "state.json"

// TaskRecord says a task finished on a host: with which rendered script (Hash) and when.
type TaskRecord struct {
	Hash string    `json:"hash"`
	Done time.Time `json:"done"`
}

// HostState is what is recorded for one host, keyed by "phase/task".
type HostState struct {
	Tasks map[string]TaskRecord `json:"tasks"`
}

// file is the on-disk form of state.json.
type file struct {
	Version int                   `json:"version"`
	Lab     string                `json:"lab"`
	Updated time.Time             `json:"updated"`
	Hosts   map[string]*HostState `json:"hosts"`
}

// Store is the state of one lab. It is safe for concurrent use; every change is written to disk
// atomically (temporary file + rename) before the call returns, so Ctrl+C or a crash loses nothing
// that was reported done.
//
// Saves are group-committed: while one save is writing, the changes of other hosts accumulate and
// the next save writes them all, so 50 hosts finishing tasks at once cost a few fsyncs, not 50.
type Store struct {
	mu       sync.Mutex // guards data and gen
	data     file
	gen      uint64 // bumped by every change
	saveMu   sync.Mutex
	savedGen uint64 // the newest gen on disk (guarded by saveMu)
	path     string
	readOnly bool
}

// Key is the state key of a task.
func Key(phase, task string) string { return phase + "/" + task }

// Open loads dir/state.json, or starts an empty state, and writes changes back to it.
// dir is created (0700) on the first write, not here.
func Open(dir, lab string) (*Store, error) {
	s, err := load(filepath.Join(dir, FileName), lab)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// OpenReadOnly loads the state if it exists and never writes: for `meshlab plan`.
func OpenReadOnly(dir, lab string) (*Store, error) {
	s, err := load(filepath.Join(dir, FileName), lab)
	if err != nil {
		return nil, err
	}
	s.readOnly = true
	return s, nil
}

func load(path, lab string) (*Store, error) {
	s := &Store{path: path, data: file{Version: 1, Lab: lab, Hosts: map[string]*HostState{}}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lab state: %w", err)
	}
	if err := json.Unmarshal(b, &s.data); err != nil {
		return nil, fmt.Errorf("%s: corrupt state file (delete it to start over; tasks with guards are still skipped): %w", path, err)
	}
	if s.data.Hosts == nil {
		s.data.Hosts = map[string]*HostState{}
	}
	return s, nil
}

// Done returns the record of a task on a host, if any.
func (s *Store) Done(host, key string) (TaskRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.data.Hosts[host]
	if h == nil {
		return TaskRecord{}, false
	}
	r, ok := h.Tasks[key]
	return r, ok
}

// Record marks a task done on a host and returns once the change is on disk.
func (s *Store) Record(host, key, hash string, at time.Time) error {
	s.mu.Lock()
	h := s.data.Hosts[host]
	if h == nil {
		h = &HostState{Tasks: map[string]TaskRecord{}}
		s.data.Hosts[host] = h
	}
	h.Tasks[key] = TaskRecord{Hash: hash, Done: at.UTC()}
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	return s.save(gen)
}

// Forget removes every record of a host's tasks, e.g.
// after `meshlab down` undid them, and saves the state.
func (s *Store) Forget(host string) error {
	s.mu.Lock()
	if _, ok := s.data.Hosts[host]; !ok {
		s.mu.Unlock()
		return nil
	}
	delete(s.data.Hosts, host)
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	return s.save(gen)
}

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

// save makes sure the state of generation gen (or newer) is on disk.
func (s *Store) save(gen uint64) error {
	if s.readOnly {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if s.savedGen >= gen {
		return nil // a save that started after our change already wrote it
	}
	s.mu.Lock()
	s.data.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(s.data, "", "  ")
	latest := s.gen
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	if err := WriteFileAtomic(s.path, append(b, '\n')); err != nil {
		return err
	}
	s.savedGen = latest
	return nil
}

// WriteFileAtomic writes data to path through a temporary file in the same directory and a
// rename, so readers see the old or the new content, never a partial file.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(FileMode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
