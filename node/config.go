package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"

	"github.com/nothingshared/ns/cluster"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
	"github.com/nothingshared/ns/wal"
	"github.com/nothingshared/ns/worker"
)

// Config configures a node. It holds the sub-configs of the layers it
// composes; node fills in the fields they share (node id, metadata).
type Config struct {
	// NodeID is the node's unique id in the cluster. Required.
	NodeID string
	// GRPCAddr is the gRPC listen address. Default "127.0.0.1:7700"; port 0
	// picks a free port.
	GRPCAddr string
	// AdvertiseAddr is the host (IP or name) peers and clients use to reach
	// this node, for gRPC and gossip. "" means the host of GRPCAddr, which
	// must then not be unspecified (0.0.0.0).
	AdvertiseAddr string
	// HTTPAddr is the admin HTTP address (/metrics, /healthz, /readyz,
	// /debug/pprof). "" disables it. Default "127.0.0.1:7780".
	HTTPAddr string
	// RESPAddr is the Redis protocol (RESP2/RESP3) listen address
	// (docs/resp.md). "" disables it. Default "127.0.0.1:7379"; port 0
	// picks a free port.
	RESPAddr string
	// RESPMaxConnections bounds the RESP connections open at once. 0 means
	// 10000 (Redis's maxclients); negative means no limit.
	RESPMaxConnections int
	// RESPIdleTimeout closes a RESP connection idle this long. 0 means never
	// (Redis's "timeout 0").
	RESPIdleTimeout time.Duration
	// RESPFlushAll enables the RESP commands FLUSHALL and FLUSHDB, which
	// remove every key of the cluster. false (the default) refuses them
	// with an error.
	RESPFlushAll bool
	// RESPCluster serves RESP as a Redis Cluster (docs/resp.md, "Redis
	// Cluster mode"): keys are placed by Redis Cluster's hash slots
	// (Ring.KeyHash is set to ring.KeyHashSlots), the node advertises its
	// RESP address, CLUSTER SLOTS and friends describe the table, and a key
	// owned elsewhere is answered MOVED. Every node of a cluster must set
	// it alike (members of the other key hash are refused), from the
	// cluster's creation on (DataDir records it and refuses the other).
	// false: standalone RESP.
	RESPCluster bool
	// Zone is this node's failure zone; backups prefer other zones.
	Zone string
	// Version is reported to peers and clients.
	Version string

	// Cluster configures gossip. NodeID, Meta and OnView are set by the node.
	Cluster cluster.Config
	// Ring configures partitions, backups, load and the placement version;
	// the node advertises the placement version and refuses members of
	// another (docs/rebalancing.md).
	Ring ring.Config
	// Worker configures the local worker pool.
	Worker worker.Config
	// Limits bound every request.
	Limits transport.Limits
	// MaxMemory bounds, in bytes, what the node's KV stores hold for data
	// and its request-id dedup tables: the partitions it owns and its backup
	// copies (kv.Store.Bytes: pages, indexes, expiry heaps; an estimate per
	// dedup entry). Once it is reached, a client's write that needs more
	// memory (for data or its request id's entry) is refused with
	// kv.ErrMemoryFull (RESOURCE_EXHAUSTED, -OOM over RESP); nothing is
	// evicted, and backups, handoffs and log replay are never refused
	// (memory.go). 0, the default, means no limit; negative is invalid.
	MaxMemory int64
	// Security configures TLS, token authentication and the gossip key
	// file (security.go). The zero value is plaintext and open.
	Security SecurityConfig

	// Services are the services the node hosts. nil means KVService only.
	Services []Service
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// GRPCOptions are extra gRPC server options (credentials, interceptors).
	GRPCOptions []grpc.ServerOption
	// Listen, if set, opens the node's listeners (gRPC, admin HTTP, RESP)
	// in place of net.Listen, e.g. in-memory ones (internal/bufnet) to run
	// many nodes in one process without sockets. The listener's Addr must be
	// a host:port. nil means net.Listen.
	Listen func(network, addr string) (net.Listener, error)
	// Dial, if set, opens every gRPC connection this node makes to a peer
	// (forwarding, replication, handoff), given the peer's advertised gRPC
	// address, in place of gRPC's TCP dialer. It must be safe for concurrent
	// use and honour ctx. nil means gRPC's default dialer. Gossip has its
	// own hook: Cluster.Memberlist.Transport (cluster/memnet).
	Dial func(ctx context.Context, addr string) (net.Conn, error)

	// RequestTimeout bounds a request whose caller set no deadline.
	// 0 means 10s.
	RequestTimeout time.Duration
	// LeaveTimeout bounds the gossip leave broadcast on shutdown. 0 means 5s.
	LeaveTimeout time.Duration
	// ExpiryInterval is how often workers sweep expired keys. 0 means 100ms.
	ExpiryInterval time.Duration
	// DisablePprof removes /debug/pprof from the admin server.
	DisablePprof bool

	// OTLPEndpoint is the OpenTelemetry collector (host:port, OTLP/gRPC)
	// that receives traces. "" turns tracing off (the default).
	OTLPEndpoint string
	// OTLPInsecure sends traces without TLS.
	OTLPInsecure bool
	// TraceSampleRatio is the fraction of traces kept when tracing is on;
	// 0 means 1 (all).
	TraceSampleRatio float64

	// JoinTimeout is how long a node with seeds waits for one to answer
	// before it starts a new cluster of its own. 0 means 30s.
	JoinTimeout time.Duration
	// ReplicationTimeout bounds one Replicate call to a backup. 0 means 5s.
	ReplicationTimeout time.Duration
	// HandoffTimeout bounds one partition pull. 0 means 30s.
	HandoffTimeout time.Duration
	// HandoffConcurrency bounds the partition pulls running at once.
	// 0 means 8.
	HandoffConcurrency int
	// DataDir keeps the node's partitions on disk (docs/durability.md): one
	// write-ahead log per worker and the node's state file. A restarted node
	// recovers from it before it joins. "" keeps everything in memory only
	// (the default): backups survive a node's crash, nothing survives the
	// whole cluster's.
	DataDir string
	// Fsync says when a write is durable, with DataDir: wal.ModeBatch (the
	// zero value: one fsync per worker batch, before its results are
	// released), wal.ModeAlways (an fsync per write) or wal.ModeNever (no
	// fsync: survives a process crash, not a power loss).
	Fsync wal.Mode
	// WALSegmentBytes is the size of a log segment file. 0 means
	// wal.DefaultSegmentBytes (64 MiB).
	WALSegmentBytes int64
	// RecoveryWait bounds how long a node restarted from DataDir waits for
	// the members of its previous run before partitions may start empty or
	// settle for the copies found without them. 0 means 60s.
	RecoveryWait time.Duration

	// DisableQuorum keeps acknowledging writes on the minority side of a
	// network partition (risking split brain). By default a node that sees
	// fewer than half of the last agreed members refuses writes.
	DisableQuorum bool
}

// DefaultConfig returns a one-node configuration on loopback with the
// default ports, hosting the KV service.
func DefaultConfig() Config {
	cc := cluster.DefaultConfig()
	return Config{
		GRPCAddr: "127.0.0.1:7700",
		HTTPAddr: "127.0.0.1:7780",
		RESPAddr: "127.0.0.1:7379",
		Cluster:  cc,
		Ring:     ring.DefaultConfig(),
		Worker:   worker.DefaultConfig(),
		Limits:   transport.DefaultLimits(),
	}
}

// Errors returned by New for a bad configuration.
var (
	// ErrInvalidConfig wraps every configuration error.
	ErrInvalidConfig = errors.New("node: invalid config")
)

func (c *Config) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	if c.NodeID == "" {
		return bad("NodeID is required (--node-id)")
	}
	if c.GRPCAddr == "" {
		return bad("GRPCAddr is required (--grpc-addr)")
	}
	if _, _, err := net.SplitHostPort(c.GRPCAddr); err != nil {
		return bad("--grpc-addr %q: %v", c.GRPCAddr, err)
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return bad("--http-addr %q: %v", c.HTTPAddr, err)
		}
	}
	if c.RESPAddr != "" {
		if _, _, err := net.SplitHostPort(c.RESPAddr); err != nil {
			return bad("--resp-addr %q: %v", c.RESPAddr, err)
		}
	}
	if c.RESPIdleTimeout < 0 {
		return bad("--resp-idle-timeout must not be negative")
	}
	if c.RESPCluster && c.RESPAddr == "" {
		return bad("--resp-cluster needs --resp-addr")
	}
	if err := c.Ring.Validate(); err != nil {
		return bad("%v", err)
	}
	if err := c.Limits.Validate(); err != nil {
		return bad("%v", err)
	}
	if c.DataDir != "" {
		switch c.Fsync {
		case wal.ModeBatch, wal.ModeAlways, wal.ModeNever:
		default:
			return bad("--fsync %v: want always, batch or never", c.Fsync)
		}
		if c.WALSegmentBytes != 0 && c.WALSegmentBytes < wal.MinSegmentBytes {
			return bad("--wal-segment-bytes %d: at least %d", c.WALSegmentBytes, wal.MinSegmentBytes)
		}
		// A logged write is its key, value and a few fields: it must fit a
		// log record.
		if lim := c.Limits.WithDefaults(); lim.MaxKeyBytes+lim.MaxValueBytes > wal.MaxPayload-walRecordOverhead {
			return bad("--max-key-bytes plus --max-value-bytes (%d) exceed what a write-ahead log record holds with --data-dir (%d)",
				lim.MaxKeyBytes+lim.MaxValueBytes, wal.MaxPayload-walRecordOverhead)
		}
	}
	if c.MaxMemory < 0 {
		return bad("--max-memory must not be negative (0 means no limit)")
	}
	if c.RecoveryWait < 0 {
		return bad("--recovery-wait must not be negative")
	}
	if c.RequestTimeout < 0 || c.LeaveTimeout < 0 || c.ExpiryInterval < 0 || c.ReplicationTimeout < 0 || c.HandoffTimeout < 0 || c.HandoffConcurrency < 0 {
		return bad("timeouts must not be negative")
	}
	seen := map[string]bool{}
	for _, s := range c.Services {
		if s == nil || s.Name() == "" {
			return bad("a service has no name")
		}
		if seen[s.Name()] {
			return bad("service %q registered twice", s.Name())
		}
		seen[s.Name()] = true
	}
	return nil
}

// walRecordOverhead bounds what a logged write adds to its key and value
// (service name, request id, epoch, LSN, time, framing).
const walRecordOverhead = 4 << 10

func (c *Config) setDefaults() {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.LeaveTimeout == 0 {
		c.LeaveTimeout = 5 * time.Second
	}
	if c.ExpiryInterval == 0 {
		c.ExpiryInterval = 100 * time.Millisecond
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = 30 * time.Second
	}
	if c.ReplicationTimeout == 0 {
		c.ReplicationTimeout = 5 * time.Second
	}
	if c.HandoffTimeout == 0 {
		c.HandoffTimeout = 30 * time.Second
	}
	if c.RecoveryWait == 0 {
		c.RecoveryWait = time.Minute
	}
	if c.HandoffConcurrency == 0 {
		c.HandoffConcurrency = 8
	}
	if c.Services == nil {
		c.Services = []Service{KVService()}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Listen == nil {
		c.Listen = net.Listen
	}
	c.Limits = c.Limits.WithDefaults()
	if c.RESPCluster {
		c.Ring.KeyHash = ring.KeyHashSlots
	}
}
