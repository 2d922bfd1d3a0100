//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package wal

import (
	"io"
	"os"
	"path/filepath"
)

// lockDir only creates dir/LOCK on platforms without flock: two logs on one
// directory are not detected there.
func lockDir(dir string) (io.Closer, error) {
	return os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o644)
}
