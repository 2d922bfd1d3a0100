//go:build linux

package wal

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

const canDropCache = true

// dropCache writes back and evicts the log's files from the page cache
// (only these files: other processes' caches are untouched).
func dropCache(dir string) error {
	names, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		return err
	}
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		_ = f.Sync()
		err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		_ = f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
