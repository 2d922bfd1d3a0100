package wal

import (
	"io"
	"os"
)

// fileSystem is the little the log needs from a file system. The real one
// is osFS; tests substitute an in-memory one that can lose unsynced bytes
// (a crash) or fail writes and fsyncs on demand. Used by one goroutine.
type fileSystem interface {
	MkdirAll(dir string) error
	// ReadDir lists the names (not paths) of the files in dir.
	ReadDir(dir string) ([]string, error)
	// Create opens name for writing, creating or truncating it.
	Create(name string) (file, error)
	// Open opens name for reading.
	Open(name string) (file, error)
	// OpenRW opens an existing file for reading and writing.
	OpenRW(name string) (file, error)
	Rename(from, to string) error
	Remove(name string) error
	// SyncDir makes the directory's entries (creations, renames, removals)
	// durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on dir, released by closing the result.
	Lock(dir string) (io.Closer, error)
}

// file is an open file of a fileSystem.
type file interface {
	io.Reader
	io.Writer
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

// osFS is the operating system's file system.
type osFS struct{}

var _ fileSystem = osFS{}

type osFile struct{ *os.File }

var _ file = osFile{}

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (osFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

func (osFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func (osFS) Create(name string) (file, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (file, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenRW(name string) (file, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Rename(from, to string) error { return os.Rename(from, to) }

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (osFS) Lock(dir string) (io.Closer, error) { return lockDir(dir) }
