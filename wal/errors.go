package wal

import (
	"errors"
	"fmt"
)

// Sentinel errors. Check them with errors.Is. The sticky failure (see
// Log.Err) wraps ErrFailed and the cause, so errors.Is(err, syscall.ENOSPC)
// also works on it.
var (
	// ErrInvalidConfig is wrapped, with the detail, by Open when a setting is
	// out of range.
	ErrInvalidConfig = errors.New("wal: invalid config")

	// ErrFailed is wrapped by the sticky error of a log that failed to write
	// or to fsync: the log acknowledges no write after it (it fails closed).
	// The error also wraps the cause (for example syscall.ENOSPC or the
	// fsync error) and names the operation and the file.
	ErrFailed = errors.New("wal: log failed; no write is acknowledged any more")

	// ErrCorrupt is wrapped by Recover when a file that was fully written and
	// fsynced before (a sealed segment, a snapshot) fails its checksum or is
	// malformed. A torn tail of the last segment is not an error: it is
	// truncated and reported in RecoveryInfo.
	ErrCorrupt = errors.New("wal: corrupt log")

	// ErrNotRecovered is returned by Append, Sync, SaveSnapshot and Drop
	// before Recover has run: the log does not know where it ends yet.
	ErrNotRecovered = errors.New("wal: Recover has not run")

	// ErrRecovered is returned by a second call to Recover.
	ErrRecovered = errors.New("wal: Recover already ran")

	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("wal: log closed")

	// ErrTooLarge is returned by Append for a payload over MaxPayload. It does
	// not fail the log.
	ErrTooLarge = errors.New("wal: record too large")

	// ErrLocked is returned by Open when another Log (in this process or
	// another one) has the directory open.
	ErrLocked = errors.New("wal: directory in use by another log")
)

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
