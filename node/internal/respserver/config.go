package respserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/transport"
)

// Backend is what the RESP server needs from its node. Implementations must
// be safe for concurrent use.
type Backend interface {
	// Dispatch delivers kv items to their owners (forwarding once where
	// needed) and returns one result per item, in order.
	Dispatch(ctx context.Context, items []*nsv1.Item, forwarded bool) []*nsv1.Result
	// NodeID is the node's id, reported by INFO and HELLO.
	NodeID() string
	// DBSize returns the number of keys in the cluster, or an error when
	// the node cannot count them (see docs/resp.md). It may ask other
	// nodes.
	DBSize() (int64, error)
	// Partitions is the cluster's partition count, fixed for its life.
	Partitions() int
	// PartitionOf returns the partition of key, the one Dispatch routes it
	// to. It must not change during the server's life.
	PartitionOf(key []byte) int
}

// MemoryReporter is what a Backend may also implement for INFO's Memory
// section: the bytes its --max-memory accounting holds (used_memory) and
// that limit (maxmemory; 0 when there is none).
type MemoryReporter interface {
	Memory() (used, max int64)
}

// Config configures a Server.
type Config struct {
	// Backend serves the commands. Required.
	Backend Backend
	// Limits are the node's request limits: key and value sizes
	// (max-key-bytes, max-value-bytes) and the most kv items in one
	// dispatched batch (max-batch), which is also the deepest pipeline
	// taken at once. Zero fields take transport's defaults.
	Limits transport.Limits
	// Tokens, when set, makes every connection authenticate (AUTH or HELLO
	// AUTH) with one of its tokens as the password, unless it presented a
	// verified TLS client certificate. nil means no authentication.
	Tokens *transport.TokenFile
	// TLS, when set, serves RESP over TLS only with this configuration.
	TLS *tls.Config
	// MaxConnections bounds the connections open at once; one more gets
	// "-ERR max number of clients reached" and is closed. 0 means
	// DefaultMaxConnections; negative means no limit.
	MaxConnections int
	// IdleTimeout closes a connection that sends nothing for this long. 0
	// means never (Redis's default "timeout 0").
	IdleTimeout time.Duration
	// MaxCommandBytes bounds one command (all its arguments); a larger one
	// is a protocol error that closes the connection. 0 means
	// DefaultMaxCommandBytes, raised to fit one maximal value.
	MaxCommandBytes int
	// RequestTimeout bounds each batch's dispatch. 0 means 10s.
	RequestTimeout time.Duration
	// Cluster serves Redis Cluster mode (docs/resp.md): CLUSTER commands,
	// MOVED for keys of partitions this node does not own (instead of
	// forwarding them), CROSSSLOT for commands whose keys span slots.
	// Backend must be a ClusterBackend placing keys by Redis's slots
	// (partition = slot*P/16384); New checks. false: standalone.
	Cluster bool
	// FlushAll enables FLUSHALL and FLUSHDB, which remove every key of the
	// cluster. false (the default) answers them with an error.
	FlushAll bool
	// Version is the ns version INFO reports.
	Version string
	// Logger receives rare events; nil discards them.
	Logger *slog.Logger
}

// Defaults.
const (
	// DefaultMaxConnections is Redis's default maxclients.
	DefaultMaxConnections = 10000
	// DefaultMaxCommandBytes bounds a command to 64 MiB (a full MSET of
	// large values fits several).
	DefaultMaxCommandBytes = 64 << 20
)

// ErrInvalidConfig wraps every configuration error of New.
var ErrInvalidConfig = errors.New("respserver: invalid config")

// DefaultConfig returns a Config with the default limits; Backend must
// still be set.
func DefaultConfig() Config {
	return Config{
		Limits:          transport.DefaultLimits(),
		MaxConnections:  DefaultMaxConnections,
		MaxCommandBytes: DefaultMaxCommandBytes,
		RequestTimeout:  10 * time.Second,
	}
}

func (c *Config) validate() error {
	if c.Backend == nil {
		return fmt.Errorf("%w: Backend is required", ErrInvalidConfig)
	}
	if c.Cluster {
		if err := checkClusterBackend(c.Backend); err != nil {
			return err
		}
	}
	if c.IdleTimeout < 0 || c.RequestTimeout < 0 || c.MaxCommandBytes < 0 {
		return fmt.Errorf("%w: timeouts and sizes must not be negative", ErrInvalidConfig)
	}
	return c.Limits.Validate()
}

func (c *Config) setDefaults() {
	c.Limits = c.Limits.WithDefaults()
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxCommandBytes == 0 {
		c.MaxCommandBytes = DefaultMaxCommandBytes
	}
	c.MaxCommandBytes = max(c.MaxCommandBytes, c.Limits.MaxValueBytes+c.Limits.MaxKeyBytes+64<<10)
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}
