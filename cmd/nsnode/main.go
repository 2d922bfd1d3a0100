// Command nsnode runs one ns node. With no flags it is a one-node cluster on
// 127.0.0.1 (gRPC 7700, gossip 7946, admin HTTP 7780). Every flag can also be
// set with an NSNODE_* environment variable (--grpc-addr: NSNODE_GRPC_ADDR).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nothingshared/ns/cluster"
	"github.com/nothingshared/ns/internal/advertise"
	"github.com/nothingshared/ns/internal/buildinfo"
	"github.com/nothingshared/ns/internal/tlsutil"
	"github.com/nothingshared/ns/node"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
	"github.com/nothingshared/ns/wal"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

type flags struct {
	nodeID, grpcAddr, gossipAddr, httpAddr, advertise string
	join                                              []string
	zone, placement                                   string
	workers, partitions, backups, queueSize           int
	pinCPUs                                           bool
	logLevel, logFormat                               string
	maxKey, maxValue, maxBatch                        int
	maxMemory                                         int64
	shutdownTimeout                                   time.Duration
	noPprof                                           bool
	otlpEndpoint                                      string
	otlpInsecure                                      bool
	traceSampleRatio                                  float64
	gossip                                            gossipFlags
	security                                          node.SecurityConfig
	clusterLabel                                      string
	respAddr                                          string
	respMaxConns                                      int
	respIdle                                          time.Duration
	respFlushAll                                      bool
	respCluster                                       bool
	maxRecvMsg, maxInFlight, maxStreams, maxConns     int
	dataDir, fsync                                    string
	walSegment                                        int64
	recoveryWait                                      time.Duration
	gcPercent                                         int
}

// gossipFlags tune memberlist's failure detector (tests, slow networks).
// Zero values keep the profile's.
type gossipFlags struct {
	profile                       string
	probeInterval, probeTimeout   time.Duration
	interval, toTheDead, pushPull time.Duration
	suspicionMult                 int
	reconnect                     time.Duration
}

// usageError marks errors that exit with code 2.
type usageError struct{ error }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	host, _ := os.Hostname()
	if host == "" {
		host = "nsnode"
	}
	var f flags
	var showVersion bool
	cmd := &cobra.Command{
		Use:   "nsnode",
		Short: "Run one node of an ns cluster",
		Long: `nsnode runs one node of an ns ("nothing shared") cluster: a worker pool that
owns partitions of keys, gossip membership, and a gRPC server that routes
every message to the one worker that owns its key.

With no flags it is a one-node cluster on 127.0.0.1, ready for clients at
once: gRPC on :7700, gossip on :7946, admin HTTP (/metrics, /healthz,
/readyz, /debug/pprof) on :7780.

In a container, bind every interface (--grpc-addr 0.0.0.0:7700 --gossip-addr
0.0.0.0:7946): without --advertise-addr the node then advertises the host's
only private IPv4 address (10/8, 172.16/12, 192.168/16, 100.64/10) and logs
it; with none or several it refuses to start and lists what it found.

Every flag can also be set by an environment variable: NSNODE_ followed by
the flag name in upper case with '-' as '_' (--grpc-addr: NSNODE_GRPC_ADDR).
A flag on the command line wins over the environment.

SIGTERM or SIGINT leaves the cluster gracefully and exits 0.
Exit codes: 0 ok, 1 runtime failure, 2 bad flags or configuration.`,
		Example: `  nsnode
  nsnode --node-id n2 --grpc-addr 127.0.0.1:7701 --gossip-addr 127.0.0.1:7947 \
         --http-addr 127.0.0.1:7781 --join 127.0.0.1:7946
  NSNODE_JOIN=ns-peers.default.svc.cluster.local nsnode --grpc-addr 0.0.0.0:7700 --advertise-addr $POD_IP
  nsnode --grpc-addr 0.0.0.0:7700 --gossip-addr 0.0.0.0:7946 --join ns1:7946   # advertises the one private IP`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unexpected argument %q: nsnode takes only flags", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if showVersion {
				fmt.Fprintln(stdout, "nsnode", buildinfo.String())
				return nil
			}
			if err := applyEnv(cmd.Flags(), getenv); err != nil {
				return usageError{err}
			}
			cfg, log, err := f.config()
			if err != nil {
				return usageError{err}
			}
			if v := getenv("GOGC"); v != "" {
				log.Info("garbage collector target from GOGC; --gc-percent ignored", "GOGC", v)
			} else {
				gctx, stop := context.WithCancel(ctx)
				defer stop()
				go tuneGC(gctx, f.gcPercent, time.Second)
			}
			return serve(ctx, cfg, log, f.shutdownTimeout)
		},
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetArgs(args)
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVar(&f.nodeID, "node-id", host, "unique node id (default: the hostname)")
	fl.StringVar(&f.grpcAddr, "grpc-addr", "127.0.0.1:7700", "gRPC listen address (clients and peers)")
	fl.StringVar(&f.gossipAddr, "gossip-addr", "127.0.0.1:7946", "gossip (memberlist) listen address, TCP and UDP")
	fl.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:7780", "admin HTTP address (/metrics, /healthz, /readyz, /debug/pprof); empty disables")
	fl.StringVar(&f.respAddr, "resp-addr", "127.0.0.1:7379", "Redis protocol (RESP2/RESP3) listen address, for redis-cli and Redis clients (docs/resp.md); empty disables")
	fl.IntVar(&f.respMaxConns, "resp-max-connections", 10000, "Redis protocol connections open at once; more get \"max number of clients reached\" (negative: no limit)")
	fl.DurationVar(&f.respIdle, "resp-idle-timeout", 0, "close a Redis protocol connection idle this long (0: never)")
	fl.BoolVar(&f.respCluster, "resp-cluster", false, "serve the Redis protocol as a Redis Cluster (CLUSTER SLOTS, MOVED): keys placed by Redis's hash slots; every node of a cluster alike, from its creation (docs/resp.md)")
	fl.BoolVar(&f.respFlushAll, "resp-flushall", false, "allow the Redis protocol's FLUSHALL and FLUSHDB, which remove every key of the cluster")
	fl.StringVar(&f.advertise, "advertise-addr", "", "host or IP that peers and clients use to reach this node; empty: the --grpc-addr and --gossip-addr hosts, and for one that binds every interface (0.0.0.0 or ::) the host's only private IPv4 address (10/8, 172.16/12, 192.168/16, 100.64/10), refusing to start when there are none or several")
	fl.StringSliceVar(&f.join, "join", nil, "comma list of seeds to join: host:port or DNS names (every A record is tried)")
	fl.StringVar(&f.zone, "zone", "", "failure zone of this node; backups prefer other zones")
	fl.IntVar(&f.workers, "workers", runtime.GOMAXPROCS(0), "worker goroutines, each locked to an OS thread")
	fl.IntVar(&f.partitions, "partitions", 271, "partition count; fixed for the cluster's life, the same on every node")
	fl.IntVar(&f.backups, "backups", 0, "backup copies of each partition")
	fl.StringVar(&f.placement, "placement", "v2", "partition placement algorithm, the same on every node: v2 (the default), v3 (moves fewer partitions per join or leave at 32+ partitions per member), v1 for a cluster started before v2 existed (docs/rebalancing.md)")
	fl.IntVar(&f.queueSize, "queue-size", 1024, "per-worker ring capacity (a power of two)")
	fl.BoolVar(&f.pinCPUs, "pin-cpus", false, "pin worker i to CPU i (Linux)")
	fl.IntVar(&f.maxKey, "max-key-bytes", 1024, "largest key accepted")
	fl.IntVar(&f.maxValue, "max-value-bytes", 1<<20, "largest value or payload accepted")
	fl.IntVar(&f.maxBatch, "max-batch", 1024, "most items in one stream frame or batch")
	fl.Int64Var(&f.maxMemory, "max-memory", 0, "bytes the node's KV stores and request-id dedup tables may hold, owned and backup copies; past it client writes are refused (RESOURCE_EXHAUSTED, -OOM), never backups (0: no limit)")
	fl.IntVar(&f.maxRecvMsg, "max-recv-msg-bytes", 0, "largest gRPC message accepted (0: a full batch of maximal values, 4-64 MiB)")
	fl.IntVar(&f.maxInFlight, "max-stream-in-flight", transport.DefaultMaxStreamInFlight, "frames one stream may have in flight; more wait")
	fl.IntVar(&f.maxStreams, "max-concurrent-streams", transport.DefaultMaxConcurrentStreams, "calls open at once on one connection; more wait")
	fl.IntVar(&f.maxConns, "max-connections", transport.DefaultMaxConnections, "gRPC connections open at once; more are closed on accept (negative: no limit)")
	fl.StringVar(&f.security.TLSCAFile, "tls-ca", "", "CA bundle (PEM) verifying clients and peers; with --tls-cert and --tls-key, gRPC is mutual TLS only")
	fl.StringVar(&f.security.TLSCertFile, "tls-cert", "", "this node's certificate (PEM), presented to clients and peers; reloaded when it changes")
	fl.StringVar(&f.security.TLSKeyFile, "tls-key", "", "this node's private key (PEM)")
	fl.StringVar(&f.security.TLSPeerName, "tls-peer-name", tlsutil.DefaultPeerName, "name (DNS SAN, URI SAN or OU) node certificates carry; only they may call peer RPCs")
	fl.StringVar(&f.security.AuthTokenFile, "auth-token-file", "", "file of bearer tokens (one per line) required by the public API (with TLS: or a client certificate)")
	fl.StringVar(&f.security.GossipKeyFile, "gossip-key-file", "", "gossip encryption keys (base64, 16/24/32 bytes, one per line, the first primary)")
	fl.StringVar(&f.clusterLabel, "cluster-label", "", "label sent with all gossip; nodes with another label are ignored, so two clusters never merge")
	fl.StringVar(&f.dataDir, "data-dir", "", "directory for the write-ahead logs and state of this node's partitions; empty keeps them in memory only")
	fl.StringVar(&f.fsync, "fsync", "batch", "with --data-dir, when a write is durable before it is acknowledged: always (fsync per write), batch (one fsync per worker batch) or never (survives a process crash, not a power loss)")
	fl.Int64Var(&f.walSegment, "wal-segment-bytes", wal.DefaultSegmentBytes, "size of a write-ahead log segment file")
	fl.DurationVar(&f.recoveryWait, "recovery-wait", time.Minute, "after a restart from --data-dir, how long to wait for the members of the previous run before partitions start without their copies")
	fl.IntVar(&f.gcPercent, "gc-percent", defaultGCPercent, "the Go garbage collector's target (GOGC) for a large heap: it grows by gc-percent of the live data before a collection, but by at least 32 MiB (up to Go's default, 100%), so a small node collects no more often than Go's default; lower holds less memory per key (docs/benchmarks.md, make bench-memory); the GOGC environment variable, when set, wins")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "longest graceful leave on SIGTERM")
	fl.BoolVar(&f.noPprof, "disable-pprof", false, "do not serve /debug/pprof on the admin port")
	fl.StringVar(&f.otlpEndpoint, "otlp-endpoint", "", "OpenTelemetry collector (host:port, OTLP/gRPC) for traces; empty turns tracing off")
	fl.BoolVar(&f.otlpInsecure, "otlp-insecure", false, "send traces to the collector without TLS")
	fl.Float64Var(&f.traceSampleRatio, "trace-sample-ratio", 1, "fraction of traces kept when tracing is on (0 < r <= 1)")
	fl.StringVar(&f.gossip.profile, "gossip-profile", "ns", "failure detector timings to start from: ns (memberlist LAN with faster detection: a crash is detected in about 2 s), lan (memberlist's LAN defaults: 5-7 s) or local (loopback, faster)")
	fl.DurationVar(&f.gossip.probeInterval, "gossip-probe-interval", 0, "interval between failure-detector probes (0: the profile's; ns 400ms, lan 1s)")
	fl.DurationVar(&f.gossip.probeTimeout, "gossip-probe-timeout", 0, "time to wait for a probe's ack (0: the profile's; ns 200ms, lan 500ms)")
	fl.DurationVar(&f.gossip.interval, "gossip-interval", 0, "interval between gossip rounds (0: the profile's; ns 100ms, lan 200ms)")
	fl.IntVar(&f.gossip.suspicionMult, "gossip-suspicion-mult", 0, "suspicion timeout multiplier: a suspect is declared dead after about mult*probe-interval*max(1,log10(members)) (0: the profile's; ns 3, lan 4)")
	fl.DurationVar(&f.gossip.toTheDead, "gossip-to-the-dead-time", 0, "how long gossip still reaches a node declared dead (0: the profile's; lan 30s)")
	fl.DurationVar(&f.gossip.pushPull, "gossip-push-pull-interval", 0, "interval between full state syncs (0: the profile's; lan 30s)")
	fl.DurationVar(&f.gossip.reconnect, "gossip-reconnect-interval", cluster.DefaultReconnectInterval, "how often to try rejoining members considered dead, so both sides of a healed network partition merge; negative disables")
	fl.BoolVar(&showVersion, "version", false, "print the version and exit")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })

	err := cmd.ExecuteContext(ctx)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "nsnode: %v\nRun 'nsnode --help' for usage.\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "nsnode: %v\n", err)
		return exitError
	}
}

// applyEnv sets every flag not given on the command line from NSNODE_*.
func applyEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Changed || fl.Name == "version" {
			return
		}
		name := "NSNODE_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if e := fs.Set(fl.Name, v); e != nil {
				err = fmt.Errorf("invalid value %q for %s (--%s): %v", v, name, fl.Name, e)
			}
		}
	})
	return err
}

func (f *flags) config() (node.Config, *slog.Logger, error) {
	if f.gcPercent < 1 {
		return node.Config{}, nil, fmt.Errorf("--gc-percent %d: want 1 or more (100 is Go's default)", f.gcPercent)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return node.Config{}, nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	var h slog.Handler
	switch f.logFormat {
	case "text":
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})
	case "json":
		h = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})
	default:
		return node.Config{}, nil, fmt.Errorf("--log-format %q: want text or json", f.logFormat)
	}
	log := slog.New(h)

	cfg := node.DefaultConfig()
	cfg.NodeID = f.nodeID
	cfg.GRPCAddr = f.grpcAddr
	cfg.HTTPAddr = f.httpAddr
	cfg.RESPAddr = f.respAddr
	cfg.RESPMaxConnections = f.respMaxConns
	cfg.RESPIdleTimeout = f.respIdle
	cfg.RESPFlushAll = f.respFlushAll
	cfg.RESPCluster = f.respCluster
	cfg.AdvertiseAddr = f.advertise
	cfg.Zone = f.zone
	cfg.Version = buildinfo.Version
	cfg.Logger = log
	cfg.DisablePprof = f.noPprof
	if f.respIdle < 0 {
		return cfg, nil, fmt.Errorf("--resp-idle-timeout %v: must not be negative", f.respIdle)
	}
	if f.traceSampleRatio <= 0 || f.traceSampleRatio > 1 {
		return cfg, nil, fmt.Errorf("--trace-sample-ratio %v: want a fraction in (0, 1]", f.traceSampleRatio)
	}
	cfg.OTLPEndpoint = f.otlpEndpoint
	cfg.OTLPInsecure = f.otlpInsecure
	cfg.TraceSampleRatio = f.traceSampleRatio

	gh, gp, err := net.SplitHostPort(f.gossipAddr)
	if err != nil {
		return cfg, nil, fmt.Errorf("--gossip-addr %q: %v", f.gossipAddr, err)
	}
	port, err := strconv.Atoi(gp)
	if err != nil || port < 0 || port > 65535 {
		return cfg, nil, fmt.Errorf("--gossip-addr %q: bad port", f.gossipAddr)
	}
	cfg.Cluster.BindAddr = gh
	cfg.Cluster.BindPort = port
	cfg.Cluster.AdvertiseAddr = f.advertise
	if f.advertise == "" {
		if err := f.autoAdvertise(&cfg, gh, log); err != nil {
			return cfg, nil, err
		}
	}
	cfg.Cluster.Join = f.join
	cfg.Cluster.ReconnectInterval = f.gossip.reconnect
	mc, err := f.gossip.memberlist()
	if err != nil {
		return cfg, nil, err
	}
	cfg.Cluster.Memberlist = mc

	if f.workers < 1 {
		return cfg, nil, fmt.Errorf("--workers %d: need at least 1", f.workers)
	}
	if f.queueSize < 2 || f.queueSize&(f.queueSize-1) != 0 {
		return cfg, nil, fmt.Errorf("--queue-size %d: must be a power of two >= 2", f.queueSize)
	}
	mode, err := wal.ParseMode(f.fsync)
	if err != nil {
		return cfg, nil, fmt.Errorf("--fsync %q: want always, batch or never", f.fsync)
	}
	cfg.DataDir = f.dataDir // the three below only matter with it
	cfg.Fsync = mode
	cfg.WALSegmentBytes = f.walSegment
	if f.walSegment < wal.MinSegmentBytes {
		return cfg, nil, fmt.Errorf("--wal-segment-bytes %d: at least %d", f.walSegment, wal.MinSegmentBytes)
	}
	if f.recoveryWait <= 0 {
		return cfg, nil, fmt.Errorf("--recovery-wait %v: must be positive", f.recoveryWait)
	}
	cfg.RecoveryWait = f.recoveryWait
	cfg.Worker.Workers = f.workers
	cfg.Worker.QueueSize = f.queueSize
	cfg.Worker.PinCPUs = f.pinCPUs
	if f.partitions < 1 {
		return cfg, nil, fmt.Errorf("--partitions %d: need at least 1", f.partitions)
	}
	if f.backups < 0 {
		return cfg, nil, fmt.Errorf("--backups %d: must not be negative", f.backups)
	}
	cfg.Ring.Partitions = f.partitions
	cfg.Ring.Backups = f.backups
	switch f.placement {
	case "v1":
		cfg.Ring.Placement = ring.PlacementV1
	case "v2":
		cfg.Ring.Placement = ring.PlacementV2
	case "v3":
		cfg.Ring.Placement = ring.PlacementV3
	default:
		return cfg, nil, fmt.Errorf("--placement %q: want v1, v2 or v3", f.placement)
	}
	for _, l := range []struct {
		name string
		v    int
	}{{"--max-key-bytes", f.maxKey}, {"--max-value-bytes", f.maxValue}, {"--max-batch", f.maxBatch}} {
		if l.v < 1 {
			return cfg, nil, fmt.Errorf("%s %d: must be at least 1", l.name, l.v)
		}
	}
	if f.maxMemory < 0 {
		return cfg, nil, fmt.Errorf("--max-memory %d: must not be negative (0: no limit)", f.maxMemory)
	}
	cfg.MaxMemory = f.maxMemory
	cfg.Limits.MaxKeyBytes = f.maxKey
	cfg.Limits.MaxValueBytes = f.maxValue
	cfg.Limits.MaxBatch = f.maxBatch
	cfg.Limits.MaxRecvMsgBytes = 0
	for _, l := range []struct {
		name string
		v    int
	}{{"--max-recv-msg-bytes", f.maxRecvMsg}, {"--max-stream-in-flight", f.maxInFlight}, {"--max-concurrent-streams", f.maxStreams}} {
		if l.v < 0 {
			return cfg, nil, fmt.Errorf("%s %d: must not be negative", l.name, l.v)
		}
	}
	cfg.Limits.MaxRecvMsgBytes = f.maxRecvMsg
	cfg.Limits.MaxStreamInFlight = f.maxInFlight
	cfg.Limits.MaxConcurrentStreams = f.maxStreams
	cfg.Limits.MaxConnections = f.maxConns
	cfg.Limits = cfg.Limits.WithDefaults()
	cfg.Security = f.security
	if len(f.clusterLabel) > memberlist.LabelMaxSize {
		return cfg, nil, fmt.Errorf("--cluster-label: longer than %d bytes", memberlist.LabelMaxSize)
	}
	cfg.Cluster.Label = f.clusterLabel
	return cfg, log, nil
}

// hostInterfaces lists this host's network interfaces for autoAdvertise;
// tests replace it.
var hostInterfaces = advertise.Interfaces

// autoAdvertise runs without --advertise-addr. When --grpc-addr or
// --gossip-addr binds every interface (0.0.0.0, ::, or for gRPC no host),
// there is no bound address to advertise: as Consul and memberlist do, the
// node advertises the host's only private IPv4 address and logs it, and
// refuses to start when there is none or several (advertise.Choose), naming
// --advertise-addr. A layer bound to one address still advertises that one.
func (f *flags) autoAdvertise(cfg *node.Config, gossipHost string, log *slog.Logger) error {
	grpcHost, _, err := net.SplitHostPort(f.grpcAddr)
	grpcAll := err == nil && (grpcHost == "" || unspecified(grpcHost)) // a bad address is node.New's to report
	gossipAll := unspecified(gossipHost)
	var wild []string
	if grpcAll {
		wild = append(wild, "--grpc-addr "+f.grpcAddr)
	}
	if gossipAll {
		wild = append(wild, "--gossip-addr "+f.gossipAddr)
	}
	if len(wild) == 0 {
		return nil
	}
	verb := " binds"
	if len(wild) > 1 {
		verb = " bind"
	}
	why := strings.Join(wild, " and ") + verb + " every interface and no --advertise-addr is given"
	ifs, err := hostInterfaces()
	if err != nil {
		return fmt.Errorf("%s, and %w; set --advertise-addr to the address peers reach this node at", why, err)
	}
	c, err := advertise.Choose(ifs)
	switch {
	case errors.Is(err, advertise.ErrSeveralPrivateIPv4):
		return fmt.Errorf("%s: %w; pick the one peers reach this node at with --advertise-addr", why, err)
	case err != nil:
		return fmt.Errorf("%s: %w; set --advertise-addr to the address peers reach this node at", why, err)
	}
	ip := c.IP.String()
	if grpcAll {
		cfg.AdvertiseAddr = ip
	}
	switch {
	case gossipAll:
		cfg.Cluster.AdvertiseAddr = ip
	case gossipHost == "":
		cfg.Cluster.AdvertiseAddr = cluster.DefaultBindAddr
	default:
		cfg.Cluster.AdvertiseAddr = gossipHost // not the node's AdvertiseAddr, which it would otherwise take
	}
	log.Info("advertising this host's only private IPv4 address", "addr", ip, "interface", c.Interface, "why", why)
	return nil
}

func unspecified(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// memberlist returns the memberlist configuration the gossip flags ask
// for, nil when they keep every default (the cluster package's own).
func (g gossipFlags) memberlist() (*memberlist.Config, error) {
	var mc *memberlist.Config
	switch g.profile {
	case "ns", "":
		mc = cluster.DefaultMemberlist()
	case "lan":
		mc = memberlist.DefaultLANConfig()
	case "local":
		mc = memberlist.DefaultLocalConfig()
	default:
		return nil, fmt.Errorf("--gossip-profile %q: want ns, lan or local", g.profile)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		dst  *time.Duration
	}{
		{"--gossip-probe-interval", g.probeInterval, &mc.ProbeInterval},
		{"--gossip-probe-timeout", g.probeTimeout, &mc.ProbeTimeout},
		{"--gossip-interval", g.interval, &mc.GossipInterval},
		{"--gossip-to-the-dead-time", g.toTheDead, &mc.GossipToTheDeadTime},
		{"--gossip-push-pull-interval", g.pushPull, &mc.PushPullInterval},
	} {
		if d.v < 0 {
			return nil, fmt.Errorf("%s %v: must not be negative", d.name, d.v)
		}
		if d.v > 0 {
			*d.dst = d.v
		}
	}
	if g.suspicionMult < 0 {
		return nil, fmt.Errorf("--gossip-suspicion-mult %d: must not be negative", g.suspicionMult)
	}
	if g.suspicionMult > 0 {
		mc.SuspicionMult = g.suspicionMult
	}
	if mc.ProbeTimeout >= mc.ProbeInterval {
		return nil, fmt.Errorf("--gossip-probe-timeout %v must be shorter than --gossip-probe-interval %v", mc.ProbeTimeout, mc.ProbeInterval)
	}
	if g == (gossipFlags{profile: g.profile, reconnect: g.reconnect}) && (g.profile == "ns" || g.profile == "") {
		return nil, nil
	}
	mc.DeadNodeReclaimTime = cluster.DefaultDeadNodeReclaimTime
	return mc, nil
}

// serve runs the node until a signal or a Leave call, then leaves gracefully.
func serve(ctx context.Context, cfg node.Config, log *slog.Logger, shutdownTimeout time.Duration) error {
	n, err := node.New(cfg)
	if err != nil {
		if errors.Is(err, node.ErrInvalidConfig) {
			return usageError{err}
		}
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	if err := n.Start(ctx); err != nil {
		_ = n.Shutdown(context.Background())
		return err
	}
	select {
	case s := <-sigs:
		log.Info("signal received; leaving gracefully", "signal", s.String())
	case <-n.Done():
		return nil
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return n.Shutdown(sctx)
}
