package wal

import (
	"bytes"
	"fmt"
	"io"
	iofs "io/fs"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// memFS is an in-memory fileSystem that knows what is durable: a file's
// bytes up to its last Sync, and the directory's entries as of the last
// SyncDir. crash returns the file system a reboot would find. It also fails
// operations on demand (fault) and runs out of space (capacity).
type memFS struct {
	files   map[string]*memFile // live entries, by path
	durable map[string]*memFile // entries as of the last SyncDir
	// capacity bounds the total bytes of live files; 0 is unlimited. A
	// write past it writes what fits and fails with ENOSPC.
	capacity int64
	// fault, when set, is asked before each operation ("create", "write",
	// "sync", "rename", "remove", "syncdir", "truncate") and fails it with
	// the error it returns.
	fault func(op, name string) error
}

type memFile struct {
	data   []byte
	synced []byte
}

func newMemFS() *memFS {
	return &memFS{files: map[string]*memFile{}, durable: map[string]*memFile{}}
}

var _ fileSystem = (*memFS)(nil)

func (m *memFS) inject(op, name string) error {
	if m.fault == nil {
		return nil
	}
	if err := m.fault(op, filepath.Base(name)); err != nil {
		return &pathError{Op: op, Path: name, Err: err}
	}
	return nil
}

type pathError = iofs.PathError

func (m *memFS) used() int64 {
	var n int64
	for _, f := range m.files {
		n += int64(len(f.data))
	}
	return n
}

func (m *memFS) MkdirAll(string) error { return nil }

func (m *memFS) ReadDir(dir string) ([]string, error) {
	var out []string
	for p := range m.files {
		if filepath.Dir(p) == filepath.Clean(dir) {
			out = append(out, filepath.Base(p))
		}
	}
	slices.Sort(out)
	return out, nil
}

func (m *memFS) Create(name string) (file, error) {
	if err := m.inject("create", name); err != nil {
		return nil, err
	}
	f := &memFile{}
	m.files[name] = f
	return &memHandle{fs: m, f: f, name: name}, nil
}

func (m *memFS) Open(name string) (file, error) {
	f, ok := m.files[name]
	if !ok {
		return nil, &pathError{Op: "open", Path: name, Err: syscall.ENOENT}
	}
	return &memHandle{fs: m, f: f, name: name}, nil
}

func (m *memFS) OpenRW(name string) (file, error) { return m.Open(name) }

func (m *memFS) Rename(from, to string) error {
	if err := m.inject("rename", to); err != nil {
		return err
	}
	f, ok := m.files[from]
	if !ok {
		return &pathError{Op: "rename", Path: from, Err: syscall.ENOENT}
	}
	delete(m.files, from)
	m.files[to] = f
	return nil
}

func (m *memFS) Remove(name string) error {
	if err := m.inject("remove", name); err != nil {
		return err
	}
	if _, ok := m.files[name]; !ok {
		return &pathError{Op: "remove", Path: name, Err: syscall.ENOENT}
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) SyncDir(dir string) error {
	if err := m.inject("syncdir", dir); err != nil {
		return err
	}
	m.durable = make(map[string]*memFile, len(m.files))
	for p, f := range m.files {
		m.durable[p] = f
	}
	return nil
}

func (m *memFS) Lock(string) (io.Closer, error) { return io.NopCloser(nil), nil }

// crash returns what a reboot finds: the entries made durable by SyncDir,
// each with its synced bytes plus, as keep decides, a prefix of the bytes
// written after (the kernel wrote some back) and some garbage (a torn
// sector).
func (m *memFS) crash(keep func(name string, unsynced int) (n int, garbage []byte)) *memFS {
	out := newMemFS()
	for p, f := range m.durable {
		data := bytes.Clone(f.synced)
		if keep != nil && len(f.data) > len(f.synced) && bytes.HasPrefix(f.data, f.synced) {
			tail := f.data[len(f.synced):]
			n, garbage := keep(filepath.Base(p), len(tail))
			data = append(data, tail[:n]...)
			data = append(data, garbage...)
		}
		nf := &memFile{data: data, synced: bytes.Clone(data)}
		out.files[p] = nf
		out.durable[p] = nf
	}
	return out
}

// names lists the live files, for failure messages.
func (m *memFS) names() string {
	var out []string
	for p, f := range m.files {
		out = append(out, fmt.Sprintf("%s(%d/%d)", filepath.Base(p), len(f.synced), len(f.data)))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

type memHandle struct {
	fs   *memFS
	f    *memFile
	name string
	rd   int
}

func (h *memHandle) Read(p []byte) (int, error) {
	if h.rd >= len(h.f.data) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[h.rd:])
	h.rd += n
	return n, nil
}

func (h *memHandle) Write(p []byte) (int, error) {
	if err := h.fs.inject("write", h.name); err != nil {
		return 0, err
	}
	if c := h.fs.capacity; c > 0 {
		if room := c - h.fs.used(); int64(len(p)) > room {
			room = max(room, 0)
			h.f.data = append(h.f.data, p[:room]...)
			return int(room), &pathError{Op: "write", Path: h.name, Err: syscall.ENOSPC}
		}
	}
	h.f.data = append(h.f.data, p...)
	return len(p), nil
}

func (h *memHandle) Sync() error {
	if err := h.fs.inject("sync", h.name); err != nil {
		return err
	}
	h.f.synced = bytes.Clone(h.f.data)
	return nil
}

func (h *memHandle) Truncate(n int64) error {
	if err := h.fs.inject("truncate", h.name); err != nil {
		return err
	}
	h.f.data = h.f.data[:n]
	return nil
}

func (h *memHandle) Size() (int64, error) { return int64(len(h.f.data)), nil }

func (h *memHandle) Close() error { return nil }
