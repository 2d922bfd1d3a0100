package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/nothingshared/ns/cluster"
	"github.com/nothingshared/ns/internal/ratelog"
	"github.com/nothingshared/ns/internal/tracing"
	"github.com/nothingshared/ns/kv"
	"github.com/nothingshared/ns/node/internal/respserver"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
	"github.com/nothingshared/ns/worker"
)

// Node is one member of an ns cluster: a worker pool that owns partitions'
// state, gossip membership, the partition table built from it, and the gRPC
// server that routes every message to the one worker that owns its key.
//
// Lifecycle: New binds every socket; Start serves and joins; Shutdown leaves
// gracefully and may be called more than once.
type Node struct {
	cfg Config
	log *slog.Logger

	// respAdvertise is the RESP address advertised to the cluster in
	// cluster mode (Config.RESPCluster), "" otherwise.
	respAdvertise string
	// respTopo caches the RESP cluster topology of one table (resp.go).
	respTopo atomic.Pointer[respTopology]

	pool     *worker.Pool[shard, *envelope, struct{}]
	members  *cluster.Cluster
	server   *transport.Server
	grpcLis  net.Listener
	httpLis  net.Listener
	httpSrv  *http.Server
	respLis  net.Listener       // nil without Config.RESPAddr
	resp     *respserver.Server // nil without Config.RESPAddr
	peers    *peers
	sec      *security      // TLS, tokens, gossip keys (security.go)
	services map[string]int // service name -> index; read-only after New
	svcList  []Service

	dur        *durable // the data directory (durable.go); nil without one
	startEpoch uint64   // newest epoch the data directory saw

	advertise string // gRPC address advertised to peers and clients

	table    atomic.Pointer[ring.Table]   // current table; never nil after New
	tableErr atomic.Pointer[tableFailure] // why the newest view has no table; nil when it has one

	watchMu  sync.Mutex // guards watchers
	watchers map[chan struct{}]struct{}

	viewCh   chan cluster.View // latest view, capacity 1, coalesced
	replanCh chan struct{}     // verify every owned partition (the lease came back); capacity 1

	lease *lease // may this node serve: contact with the agreed members (lease.go)

	forwarded    atomic.Uint64
	handoffs     atomic.Uint64
	handoffBytes atomic.Uint64
	started      time.Time
	leaving      atomic.Bool
	quorum       atomic.Bool // false on the minority side of a partition: no write is acknowledged
	formed       atomic.Bool // a view with other members (or the join timeout) was applied
	retryArmed   atomic.Bool
	movingSet    atomic.Bool // rebalance published a non-empty set of moving partitions

	quorumMu sync.Mutex      // guards agreed
	agreed   map[string]bool // the last agreed members, less those that left gracefully

	// minority holds the recent tables this node built while
	// it saw fewer than half of the agreed members (see applyView), and
	// planGap says the last table planned was one of them (viewLoop only).
	minorityMu sync.Mutex
	minority   map[*ring.Table]bool
	planGap    bool

	repl       *replicators
	syncCh     chan int32  // backup copies to (re)synchronise
	pullCh     chan int32  // owned partitions found without state
	repullCh   chan repull // owned partitions found stale
	handoffSem chan struct{}

	hist     tableHistory          // tables planned, for the pull rule
	silent   silentDead            // dead holders that did not answer a pull lately
	pullMu   sync.Mutex            // guards pulling and stopping
	pulling  map[pullKey]pullAgain // running pulls, and whether to look again
	stopping bool
	pullWG   sync.WaitGroup

	runCtx context.Context // cancelled by Shutdown

	mem        *kv.Limit     // --max-memory, shared by every KV store (memory.go)
	memRefused atomic.Uint64 // client writes refused for lack of memory

	observer *observer        // metrics, hot keys (metrics.go)
	tracing  *tracing.Tracing // OpenTelemetry, off unless Config.OTLPEndpoint
	rlog     *ratelog.Logger  // rate-limited warnings for hot paths

	startOnce    sync.Once
	shutdownOnce sync.Once
	shutdownErr  error
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	done         chan struct{}
}

// New validates cfg, binds the gRPC, gossip and admin sockets, and builds
// the node. Nothing is served until Start.
func New(cfg Config) (_ *Node, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	n := newNode(cfg)
	defer func() {
		if err != nil {
			n.closeListeners()
		}
	}()

	if err = n.bind(); err != nil {
		return nil, err
	}

	n.pool, err = worker.New[shard, *envelope, struct{}](cfg.Worker, &handler{n: n})
	if err != nil {
		return nil, fmt.Errorf("node: workers: %w", err)
	}
	n.observer = newObserver(n)
	n.lease = newLease(n)
	n.rlog = ratelog.New(n.log, 10*time.Second)
	n.tracing, err = tracing.Setup(context.Background(), tracing.Config{
		Endpoint: cfg.OTLPEndpoint, Insecure: cfg.OTLPInsecure, SampleRatio: cfg.TraceSampleRatio, NodeID: cfg.NodeID})
	if err != nil {
		return nil, fmt.Errorf("node: tracing: %w", err)
	}

	if cfg.DataDir != "" {
		if err = n.checkKeyHash(); err != nil {
			return nil, err
		}
		if err = n.openData(); err != nil {
			return nil, err
		}
		for _, id := range n.dur.prev.Members {
			n.agreed[id] = true
		}
	}
	defer func() {
		if err != nil {
			n.closeLogs()
		}
	}()

	cc := n.clusterConfig()
	if n.sec, err = n.loadSecurity(&cc); err != nil {
		return nil, err
	}
	if n.members, err = cluster.New(cc); err != nil {
		return nil, fmt.Errorf("node: gossip: %w", err)
	}
	if err = n.installGossipKeys(); err != nil {
		_ = n.members.Shutdown()
		return nil, err
	}

	// The first table: this node alone, until gossip says otherwise.
	t, err := ring.New(cfg.Ring, 0, []ring.Member{n.self()})
	if err != nil {
		_ = n.members.Shutdown()
		return nil, fmt.Errorf("node: %w", err)
	}
	n.table.Store(t)

	if err = n.newServer(); err != nil {
		_ = n.members.Shutdown()
		return nil, err
	}
	if err = n.newRESP(); err != nil {
		_ = n.members.Shutdown()
		return nil, err
	}
	n.registerGossipKeys()
	return n, nil
}

// newNode builds the node's state from a validated cfg: nothing bound,
// nothing started.
func newNode(cfg Config) *Node {
	mem := kv.NewLimit(cfg.MaxMemory)
	cfg.Services = withMemoryLimit(cfg.Services, mem)
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.NodeID),
		mem:      mem,
		services: map[string]int{},
		svcList:  cfg.Services,
		watchers: map[chan struct{}]struct{}{},
		viewCh:   make(chan cluster.View, 1),
		replanCh: make(chan struct{}, 1),
		done:     make(chan struct{}),
		agreed:   map[string]bool{},
		minority: map[*ring.Table]bool{},
		syncCh:   make(chan int32, 4096),
		pullCh:   make(chan int32, 4096),
		repullCh: make(chan repull, 4096),
		pulling:  map[pullKey]pullAgain{},
		runCtx:   context.Background(),
	}
	n.handoffSem = make(chan struct{}, cfg.HandoffConcurrency)
	n.quorum.Store(true)
	n.repl = newReplicators(n)
	for i, s := range cfg.Services {
		n.services[s.Name()] = i
	}
	return n
}

// bind binds the gRPC, admin HTTP and RESP listeners (Config.Listen).
func (n *Node) bind() (err error) {
	cfg := n.cfg
	if n.grpcLis, err = cfg.Listen("tcp", cfg.GRPCAddr); err != nil {
		return fmt.Errorf("node: listen --grpc-addr %s: %w", cfg.GRPCAddr, err)
	}
	if n.advertise, err = advertiseAddr(cfg.AdvertiseAddr, n.grpcLis.Addr().String()); err != nil {
		return err
	}
	if cfg.HTTPAddr != "" {
		if n.httpLis, err = cfg.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("node: listen --http-addr %s: %w", cfg.HTTPAddr, err)
		}
	}
	return n.bindRESP()
}

// clusterConfig is the gossip layer's configuration: Config.Cluster with
// this node's identity, addresses, metadata and callbacks.
func (n *Node) clusterConfig() cluster.Config {
	cfg := n.cfg
	cc := cfg.Cluster
	cc.NodeID = cfg.NodeID
	cc.StartEpoch = max(cc.StartEpoch, n.startEpoch)
	if cc.AdvertiseAddr == "" && cfg.AdvertiseAddr != "" {
		cc.AdvertiseAddr = cfg.AdvertiseAddr
	}
	if cc.Logger == nil {
		cc.Logger = n.log
	}
	placement := cfg.Ring.Placement
	if placement == 0 {
		placement = ring.DefaultPlacement
	}
	cc.Meta = cluster.Meta{GRPCAddr: n.advertise, Zone: cfg.Zone, Workers: n.pool.Size(), Version: cfg.Version, Placement: placement,
		KeyHash: cfg.Ring.KeyHash, RESPAddr: n.respAdvertise}
	cc.OnView = n.onView
	cc.OnContact = n.lease.note
	return cc
}

// newServer builds the peer connections and the gRPC server (after
// loadSecurity: both use the node's credentials).
func (n *Node) newServer() (err error) {
	cfg := n.cfg
	peerOpts := append(append(n.grpcDialOptions(), n.tracing.DialOptions()...), n.sec.dialOptions()...)
	if cfg.Dial != nil {
		peerOpts = append(peerOpts, grpc.WithContextDialer(cfg.Dial))
	}
	n.peers = newPeers(peerOpts)
	n.server, err = transport.NewServer(transport.ServerConfig{
		Dispatcher: (*backend)(n),
		Cluster:    (*backend)(n),
		Peer:       (*backend)(n),
		Limits:     cfg.Limits,
		Logger:     n.log,
		Options:    append(append(append(n.grpcServerOptions(), n.tracing.ServerOptions()...), n.sec.serverOptions()...), cfg.GRPCOptions...),
	})
	return err
}

func advertiseAddr(host, bound string) (string, error) {
	bh, port, err := net.SplitHostPort(bound)
	if err != nil {
		return "", err
	}
	if host == "" {
		ip := net.ParseIP(bh)
		if ip != nil && ip.IsUnspecified() {
			return "", fmt.Errorf("%w: --grpc-addr binds all interfaces (%s): set --advertise-addr to the address peers can reach", ErrInvalidConfig, bound)
		}
		host = bh
	}
	return net.JoinHostPort(host, port), nil
}

func (n *Node) self() ring.Member {
	return ring.Member{ID: n.cfg.NodeID, Addr: n.advertise, Zone: n.cfg.Zone}
}

func (n *Node) closeListeners() {
	if n.grpcLis != nil {
		_ = n.grpcLis.Close()
	}
	if n.httpLis != nil {
		_ = n.httpLis.Close()
	}
	if n.respLis != nil {
		_ = n.respLis.Close()
	}
}

// ID returns the node id.
func (n *Node) ID() string { return n.cfg.NodeID }

// GRPCAddr returns the advertised gRPC address.
func (n *Node) GRPCAddr() string { return n.advertise }

// GossipAddr returns the advertised gossip address.
func (n *Node) GossipAddr() string { return n.members.LocalAddr() }

// HTTPAddr returns the admin HTTP address, "" when disabled.
func (n *Node) HTTPAddr() string {
	if n.httpLis == nil {
		return ""
	}
	return n.httpLis.Addr().String()
}

// Table returns the node's current partition table.
func (n *Node) Table() *ring.Table { return n.table.Load() }

// Done is closed when the node has shut down (after Shutdown or a Leave RPC).
func (n *Node) Done() <-chan struct{} { return n.done }

// Start starts the workers, serves gRPC and admin HTTP, and joins the
// cluster in the background (Ready reports when it has; WaitReady waits
// for it). Until then calls are refused with Unavailable.
func (n *Node) Start(ctx context.Context) error {
	err := worker.ErrAlreadyRunning
	n.startOnce.Do(func() { err = n.start(ctx) })
	return err
}

func (n *Node) start(ctx context.Context) error {
	n.started = time.Now()
	if err := n.pool.Start(); err != nil {
		return fmt.Errorf("node: workers: %w", err)
	}
	if n.dur != nil {
		for w := 0; w < n.pool.Size(); w++ {
			if err := n.exec(ctx, w, n.installRecovered); err != nil {
				return fmt.Errorf("node: recovered partitions to worker %d: %w", w, err)
			}
		}
		n.dur.recovered = nil // the workers hold it now
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.runCtx = runCtx
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.syncLoop(runCtx)
	}()

	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.viewLoop(runCtx)
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.expiryLoop(runCtx)
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.lease.keep(runCtx)
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.server.Serve(n.grpcLis); err != nil {
			n.log.Error("grpc server stopped", "err", err)
		}
	}()
	if n.resp != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.resp.Serve(n.respLis); err != nil {
				n.log.Error("resp server stopped", "err", err)
			}
		}()
	}
	if n.httpLis != nil {
		n.httpSrv = &http.Server{Handler: n.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.httpSrv.Serve(n.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.log.Error("admin http server stopped", "err", err)
			}
		}()
	}
	if err := n.members.Start(runCtx); err != nil {
		return fmt.Errorf("node: join: %w", err)
	}
	n.onView(n.members.View())
	n.server.SetServing(true)
	n.log.Info("node started", "grpc", n.advertise, "gossip", n.members.LocalAddr(), "http", n.HTTPAddr(), "resp", n.RESPAddr(),
		"workers", n.pool.Size(), "partitions", n.cfg.Ring.Partitions, "backups", n.cfg.Ring.Backups,
		"join", n.cfg.Cluster.Join)
	return nil
}

func (n *Node) expiryLoop(ctx context.Context) {
	tick := time.NewTicker(n.cfg.ExpiryInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for w := 0; w < n.pool.Size(); w++ {
			ectx, cancel := context.WithTimeout(ctx, n.cfg.ExpiryInterval)
			_ = n.exec(ectx, w, func(s *shard) { s.tick(n, time.Now()) })
			cancel()
		}
	}
}

func (n *Node) notifyWatchers() {
	n.watchMu.Lock()
	defer n.watchMu.Unlock()
	for ch := range n.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (n *Node) watch() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.watchMu.Lock()
	n.watchers[ch] = struct{}{}
	n.watchMu.Unlock()
	return ch, func() {
		n.watchMu.Lock()
		delete(n.watchers, ch)
		n.watchMu.Unlock()
	}
}
