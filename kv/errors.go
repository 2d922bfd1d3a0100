package kv

import (
	"errors"
	"fmt"
)

// Sentinel errors. Check them with errors.Is: decode and restore failures wrap
// ErrCorrupt (and, where it applies, ErrTruncated, ErrVersion or ErrUnknownOp)
// with details.
var (
	// ErrNotFound is returned by Get for a key that is absent or expired.
	ErrNotFound = errors.New("kv: key not found")

	// ErrNotInteger is returned by Incr when the key holds a value that is not
	// the canonical decimal form of an int64 (see the package documentation).
	ErrNotInteger = errors.New("kv: value is not an integer")

	// ErrOverflow is returned by Incr when the result would not fit in an
	// int64. The stored value is left unchanged.
	ErrOverflow = errors.New("kv: increment would overflow")

	// ErrUnknownOp is returned for a Request whose Op is not one of the
	// defined operations.
	ErrUnknownOp = errors.New("kv: unknown operation")

	// ErrInvalidTTL is returned for a negative time to live.
	ErrInvalidTTL = errors.New("kv: negative ttl")

	// ErrCorrupt is wrapped by every error of DecodeRequest, DecodeResponse and
	// Restore that is caused by malformed input.
	ErrCorrupt = errors.New("kv: corrupt data")

	// ErrTruncated means the input ended early. It wraps ErrCorrupt.
	ErrTruncated = fmt.Errorf("%w: truncated", ErrCorrupt)

	// ErrVersion means the input carries a format version this package does
	// not know. It wraps ErrCorrupt.
	ErrVersion = fmt.Errorf("%w: unsupported version", ErrCorrupt)
)

// corruptf returns an error wrapping ErrCorrupt with a formatted detail.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// ErrMemoryFull is returned by a write that needs memory its store's Limit
// (a node's --max-memory) does not have. The write changed nothing; nothing
// stored is ever evicted to make room.
var ErrMemoryFull = errors.New("kv: memory limit reached (--max-memory)")

// ErrValueTooLarge is returned by an append whose result would be longer than
// the request's limit (Request.Delta). The value is left unchanged.
var ErrValueTooLarge = errors.New("kv: value would exceed its size limit")
