package wal

import (
	"fmt"
	"strings"
)

// Mode says when an appended record is durable, that is when the node may
// acknowledge the write that produced it.
type Mode int

const (
	// ModeBatch buffers appends and fsyncs once per Sync call (group
	// commit): the worker calls Sync once per batch, before it releases the
	// batch's results. A crash loses at most the records of batches whose
	// results were not released yet.
	ModeBatch Mode = iota
	// ModeAlways fsyncs before every Append returns. Sync has nothing left
	// to do. The safest and the slowest mode.
	ModeAlways
	// ModeNever never fsyncs on the write path: Sync only hands the buffered
	// records to the operating system. A process crash loses nothing that
	// was Synced, but a power loss or kernel crash loses whatever the kernel
	// had not written back yet (typically up to 30 seconds on Linux), and
	// acknowledged writes with it. Segments are still fsynced when they are
	// sealed, and snapshots always are.
	ModeNever
)

// String returns the name ParseMode accepts.
func (m Mode) String() string {
	switch m {
	case ModeBatch:
		return "batch"
	case ModeAlways:
		return "always"
	case ModeNever:
		return "never"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "always", "batch" or "never" (case-insensitive).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "always":
		return ModeAlways, nil
	case "batch":
		return ModeBatch, nil
	case "never":
		return ModeNever, nil
	}
	return 0, fmt.Errorf("%w: unknown durability mode %q (want always, batch or never)", ErrInvalidConfig, s)
}

// DefaultSegmentBytes is the segment size used when Config.SegmentBytes is 0.
const DefaultSegmentBytes = 64 << 20

// MinSegmentBytes is the smallest accepted Config.SegmentBytes.
const MinSegmentBytes = 1 << 10

// MaxPayload is the largest Record.Payload Append accepts.
const MaxPayload = 64 << 20

// Config configures a Log.
type Config struct {
	// Dir holds the segments and snapshots of one log (one worker). It is
	// created if missing. Required: a node without a data directory keeps
	// no log at all.
	Dir string
	// Mode is the durability mode. Zero is ModeBatch.
	Mode Mode
	// SegmentBytes is the size at which the active segment is sealed and a
	// new one started. Zero means DefaultSegmentBytes. A record larger than
	// a segment gets a segment of its own.
	SegmentBytes int64

	// fs replaces the operating system's file system in tests (crash
	// simulation, fault injection). Nil means the real one.
	fs fileSystem
}

// DefaultConfig returns a configuration with safe defaults: ModeBatch and
// 64 MiB segments. Dir must still be set.
func DefaultConfig() Config {
	return Config{Mode: ModeBatch, SegmentBytes: DefaultSegmentBytes}
}

func (c *Config) validate() error {
	if c.Dir == "" {
		return fmt.Errorf("%w: Dir is empty", ErrInvalidConfig)
	}
	switch c.Mode {
	case ModeBatch, ModeAlways, ModeNever:
	default:
		return fmt.Errorf("%w: unknown Mode %d", ErrInvalidConfig, int(c.Mode))
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentBytes < MinSegmentBytes {
		return fmt.Errorf("%w: SegmentBytes %d below %d", ErrInvalidConfig, c.SegmentBytes, MinSegmentBytes)
	}
	if c.fs == nil {
		c.fs = osFS{}
	}
	return nil
}
