package worker

import (
	"runtime"
	"time"
)

// Config configures a Pool. The zero value of every field selects its
// default (see each field); DefaultConfig spells the defaults out.
type Config struct {
	// Workers is the number of workers; 0 means runtime.GOMAXPROCS(0).
	Workers int
	// QueueSize is each worker's data ring capacity, a power of two >= 2;
	// 0 means 1024.
	QueueSize int
	// BatchSize is the most messages a worker drains per batch; 0 means 64.
	BatchSize int
	// PinCPUs pins worker i's OS thread to CPU i modulo the CPUs the
	// process may use (Linux only; elsewhere Start fails with an error
	// wrapping ErrPinningUnsupported). false leaves placement to the OS.
	PinCPUs bool
	// LockOSThread locks each worker goroutine to its own OS thread for
	// its whole life (runtime.LockOSThread). PinCPUs implies it. false
	// lets the Go scheduler move workers between threads: measured here
	// (BenchmarkWakeup/pool-ask vs pool-ask-locked) waking a parked locked
	// worker costs ~15µs instead of ~0.6µs, because the runtime must hand
	// the P to that specific sleeping thread, so it pays off only with
	// pinning or with busy workers that rarely park.
	LockOSThread bool
	// Partitioner maps keys to workers for Send, TrySend, Ask and WorkerOf;
	// nil means Hash{}. Range and Weighted need Workers to equal their
	// Partitions().
	Partitioner Partitioner
	// MaxConsecutivePanics is how many failures (panics in Handle, Exec or
	// Init, or Init errors) in a row, with no successful message between
	// them, open the worker's circuit; 0 means 5.
	MaxConsecutivePanics int
	// RestartBackoff is the delay before the first restart after a
	// failure; it doubles per consecutive failure up to MaxRestartBackoff.
	// 0 means 10ms and 1s.
	RestartBackoff, MaxRestartBackoff time.Duration
}

// Defaults used for zero Config fields.
const (
	DefaultQueueSize            = 1024
	DefaultBatchSize            = 64
	DefaultMaxConsecutivePanics = 5
	DefaultRestartBackoff       = 10 * time.Millisecond
	DefaultMaxRestartBackoff    = time.Second
)

// controlQueueSize is the capacity of each worker's priority (Exec) ring.
const controlQueueSize = 64

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		Workers:              runtime.GOMAXPROCS(0),
		QueueSize:            DefaultQueueSize,
		BatchSize:            DefaultBatchSize,
		Partitioner:          Hash{},
		MaxConsecutivePanics: DefaultMaxConsecutivePanics,
		RestartBackoff:       DefaultRestartBackoff,
		MaxRestartBackoff:    DefaultMaxRestartBackoff,
	}
}

// sized is implemented by partitioners that serve a fixed worker count.
type sized interface{ Partitions() int }

// validate fills defaults into a copy of c and checks it.
func (c Config) validate() (Config, error) {
	d := DefaultConfig()
	switch {
	case c.Workers < 0:
		return c, invalidf("Workers %d < 0", c.Workers)
	case c.QueueSize < 0:
		return c, invalidf("QueueSize %d < 0", c.QueueSize)
	case c.BatchSize < 0:
		return c, invalidf("BatchSize %d < 0", c.BatchSize)
	case c.MaxConsecutivePanics < 0:
		return c, invalidf("MaxConsecutivePanics %d < 0", c.MaxConsecutivePanics)
	case c.RestartBackoff < 0 || c.MaxRestartBackoff < 0:
		return c, invalidf("negative restart backoff")
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.QueueSize == 0 {
		c.QueueSize = d.QueueSize
	}
	if err := checkCapacity(c.QueueSize); err != nil {
		return c, invalidf("QueueSize %d is not a power of two >= 2", c.QueueSize)
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	c.BatchSize = min(c.BatchSize, c.QueueSize)
	if c.Partitioner == nil {
		c.Partitioner = d.Partitioner
	}
	if s, ok := c.Partitioner.(sized); ok && s.Partitions() != c.Workers {
		return c, invalidf("partitioner serves %d workers, Workers is %d", s.Partitions(), c.Workers)
	}
	if c.MaxConsecutivePanics == 0 {
		c.MaxConsecutivePanics = d.MaxConsecutivePanics
	}
	if c.RestartBackoff == 0 {
		c.RestartBackoff = d.RestartBackoff
	}
	if c.MaxRestartBackoff == 0 {
		c.MaxRestartBackoff = d.MaxRestartBackoff
	}
	if c.MaxRestartBackoff < c.RestartBackoff {
		return c, invalidf("MaxRestartBackoff %v < RestartBackoff %v", c.MaxRestartBackoff, c.RestartBackoff)
	}
	return c, nil
}
