package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/nothingshared/ns/cluster"
	"github.com/nothingshared/ns/internal/ratelog"
	"github.com/nothingshared/ns/internal/tracing"
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

	repl           *replicators
	logRepl        *slog.Logger
	syncCh         chan int32  // backup copies to (re)synchronise
	pullCh         chan int32  // owned partitions found without state
	repullCh       chan repull // owned partitions found stale
	handoffSem     chan struct{}
	pendingAcks    sync.Map // ackKey -> handoff stream awaiting the install ack
	pendingCancels sync.Map // ackKey -> its context's cancel
	fetching       sync.Map // int32 partition -> pulling from a holder right now
	replicaSources sync.Map // int32 partition -> id of the owner replicating to a copy that waits for a snapshot

	pullMu   sync.Mutex              // guards pulling and stopping
	pulling  map[pullKey]*ring.Table // running pulls; non-nil: look again with this previous table
	stopping bool
	pullWG   sync.WaitGroup

	runCtx context.Context // cancelled by Shutdown

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
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.NodeID),
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
		pulling:  map[pullKey]*ring.Table{},
		runCtx:   context.Background(),
	}
	n.handoffSem = make(chan struct{}, cfg.HandoffConcurrency)
	n.quorum.Store(true)
	n.logRepl = n.log
	n.repl = newReplicators(n)
	for i, s := range cfg.Services {
		n.services[s.Name()] = i
	}
	defer func() {
		if err != nil {
			n.closeListeners()
		}
	}()

	if n.grpcLis, err = cfg.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("node: listen --grpc-addr %s: %w", cfg.GRPCAddr, err)
	}
	if n.advertise, err = advertiseAddr(cfg.AdvertiseAddr, n.grpcLis.Addr().String()); err != nil {
		return nil, err
	}
	if cfg.HTTPAddr != "" {
		if n.httpLis, err = cfg.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("node: listen --http-addr %s: %w", cfg.HTTPAddr, err)
		}
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
	cc.Meta = cluster.Meta{GRPCAddr: n.advertise, Zone: cfg.Zone, Workers: n.pool.Size(), Version: cfg.Version, Placement: placement}
	cc.OnView = n.onView
	cc.OnContact = n.lease.note
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

	peerOpts := append(append(n.grpcDialOptions(), n.tracing.DialOptions()...), n.sec.dialOptions()...)
	if cfg.Dial != nil {
		peerOpts = append(peerOpts, grpc.WithContextDialer(cfg.Dial))
	}
	n.peers = newPeers(peerOpts)
	n.server, err = transport.NewServer(transport.ServerConfig{
		Backend: (*backend)(n),
		Limits:  cfg.Limits,
		Logger:  n.log,
		Options: append(append(append(n.grpcServerOptions(), n.tracing.ServerOptions()...), n.sec.serverOptions()...), cfg.GRPCOptions...),
	})
	if err != nil {
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
// cluster in the background (Ready reports when it has).
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

// Ready reports whether the node has joined its cluster and its table
// includes itself: it can serve every key.
func (n *Node) Ready() (bool, string) {
	if n.leaving.Load() {
		return false, "leaving"
	}
	if !n.formed.Load() {
		if err := n.members.Refused(); err != nil {
			return false, "not joined: " + err.Error()
		}
		return false, "not joined yet (seeds: " + fmt.Sprint(n.cfg.Cluster.Join) + ")"
	}
	t := n.table.Load()
	stale := ""
	if f := n.tableErr.Load(); f != nil {
		stale = "; " + f.String()
	}
	if t.Epoch() == 0 {
		return false, "no partition table from the cluster yet" + stale
	}
	if t.MemberIndex(n.cfg.NodeID) < 0 {
		return false, "table does not include this node yet" + stale
	}
	if err := n.walErr(); err != nil {
		return false, "write-ahead log failed, refusing writes: " + err.Error()
	}
	if _, incoming, _, _ := n.partitionStates(); incoming > 0 {
		if missing := n.awaitingPeers(t); len(missing) > 0 {
			return false, fmt.Sprintf("%d partitions wait for members of the previous run to come back: %v (at most --recovery-wait)", incoming, missing)
		}
		return false, fmt.Sprintf("%d partitions still incoming (handoff under way)", incoming)
	}
	if d := n.lease.lapsedFor(time.Now()); d > 0 {
		return false, fmt.Sprintf("serving lease lapsed %v ago: heard from fewer than half of the last agreed members within the suspicion timeout (%v); serving nothing", d.Round(time.Millisecond), n.members.SuspicionTimeout())
	}
	// A table kept when the newest view could not be built still routes
	// every key, the same on every node: ready, with the reason.
	return true, "ok: epoch " + strconv.FormatUint(t.Epoch(), 10) + stale
}

// tableFailure records a view that could not become a partition table.
type tableFailure struct {
	epoch   uint64 // the view's epoch
	members int    // members in the view
	err     error  // from ring.New
}

// String says which view has no table and why, for Ready and the status page.
func (f *tableFailure) String() string {
	return fmt.Sprintf("membership epoch %d (%d members) has no partition table, the previous one is kept: %v", f.epoch, f.members, f.err)
}

// onView is the cluster's callback; it must not block: it hands the view to
// viewLoop, replacing any view not yet taken.
func (n *Node) onView(v cluster.View) {
	for {
		select {
		case n.viewCh <- v:
			return
		default:
		}
		select {
		case <-n.viewCh:
		default:
		}
	}
}

func (n *Node) viewLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case v := <-n.viewCh:
			n.applyView(v)
		case <-n.replanCh:
			n.replan()
		}
	}
}

// applyView builds the table for a view, publishes it, and rebalances the
// partitions that moved.
func (n *Node) applyView(v cluster.View) {
	if !n.formed.Load() {
		// A view of this node alone, before it ever saw its cluster, says
		// nothing about who holds what: wait for a real one, or for the
		// join timeout (then this node starts a new cluster).
		alone := len(v.Members) <= 1
		if alone && len(n.cfg.Cluster.Join) > 0 && time.Since(n.started) < n.cfg.JoinTimeout {
			n.retryViewAfter(n.cfg.JoinTimeout - time.Since(n.started))
			return
		}
		if err := n.members.Refused(); alone && len(n.cfg.Cluster.Join) > 0 && err != nil {
			// The seeds answered but place partitions differently: a
			// cluster of this node alone would own every partition next
			// to theirs. Wait (not ready, Ready says why) for an operator.
			n.log.Error("refused by the cluster's members; not starting a cluster alone", "err", err)
			n.retryViewAfter(n.cfg.JoinTimeout)
			return
		}
		if alone && len(n.cfg.Cluster.Join) > 0 {
			n.log.Warn("no seed answered within the join timeout; starting a new cluster", "seeds", n.cfg.Cluster.Join, "timeout", n.cfg.JoinTimeout)
		}
		n.formed.Store(true)
	}
	n.updateQuorum(v)
	members := make([]ring.Member, 0, len(v.Members))
	for _, m := range v.Members {
		members = append(members, ring.Member{ID: m.ID, Addr: m.Meta.GRPCAddr, Zone: m.Meta.Zone})
	}
	old := n.table.Load()
	t, err := ring.New(n.cfg.Ring, v.Epoch, members)
	if err != nil {
		// Every node sees the same members and fails alike (more members
		// than partitions, say): all keep their last table, which still
		// agrees. Ready and the metrics say why until a view builds.
		n.tableErr.Store(&tableFailure{epoch: v.Epoch, members: len(members), err: err})
		n.obs().tableFailures.Add(1)
		n.log.Error("cannot build partition table; keeping the previous one", "epoch", v.Epoch, "members", len(members), "kept_epoch", old.Epoch(), "err", err)
		return
	}
	n.tableErr.Store(nil)
	if old != nil && old.Epoch() == t.Epoch() && old.Hash() == t.Hash() {
		return
	}
	quorum := n.quorum.Load()
	n.noteMinority(t, !quorum) // before any pull can see t
	n.table.Store(t)
	moves := ring.Diff(old, t)
	n.log.Info("partition table changed", "epoch", t.Epoch(), "hash", fmt.Sprintf("%016x", t.Hash()),
		"members", len(members), "moved", len(moves), "owned", len(t.Owned(n.cfg.NodeID)))
	// The minority side of a network partition numbers tables of its own,
	// which the majority never sees: the epochs of the two sides are
	// unrelated, and one number may name different tables. The minority
	// acknowledges no write; it still plans its tables (it serves reads from
	// what it holds), but no copy it owns takes the epoch of such a table,
	// so none outranks the majority's copies when the sides meet again; and
	// the first table planned with quorum again verifies every partition
	// this node owns (plan).
	gap := n.planGap
	n.planGap = !quorum
	if !quorum && !gap {
		n.log.Warn("minority side: partitions taken over or kept keep the epochs of their data until quorum returns", "epoch", t.Epoch())
	}
	n.rebalance(old, t, quorum, gap)
	n.notifyWatchers()
}

// requestReplan asks viewLoop to verify, under the current table, every
// owned partition not verified since the lease last lapsed. It never blocks.
func (n *Node) requestReplan() {
	select {
	case n.replanCh <- struct{}{}:
	default:
	}
}

// replan verifies, under the current table, every owned partition this node
// has not verified since its serving lease last lapsed (lease.go).
func (n *Node) replan() {
	t := n.table.Load()
	if t.Epoch() == 0 {
		return
	}
	n.rebalanceWith(t, t, planOpts{quorum: n.quorum.Load(), verifyOnly: true})
}

// noteMinority records whether table t was built on the minority side, and
// forgets minority tables too old for any pull to still use. Tables, not
// epoch numbers: the majority may number another table with the same epoch.
func (n *Node) noteMinority(t *ring.Table, minority bool) {
	n.minorityMu.Lock()
	defer n.minorityMu.Unlock()
	if minority {
		n.minority[t] = true
		return
	}
	for old := range n.minority {
		if old.Epoch()+64 < t.Epoch() {
			delete(n.minority, old)
		}
	}
}

// ownershipEpoch is the epoch a partition taken over under table t is owned
// at: t's, unless t was built on the minority side; then 0, and the copy
// keeps the epoch of its data (the minority's epochs must never outrank the
// majority's; see applyView).
func (n *Node) ownershipEpoch(t *ring.Table) uint64 {
	n.minorityMu.Lock()
	defer n.minorityMu.Unlock()
	if n.minority[t] {
		return 0
	}
	return t.Epoch()
}

// updateQuorum tracks the last agreed member set and whether this node sees
// at least half of it. Members that left gracefully leave the set; members
// that failed stay in it, so the side of a network partition with fewer than
// half of them stops acknowledging writes.
func (n *Node) updateQuorum(v cluster.View) {
	n.quorumMu.Lock()
	defer n.quorumMu.Unlock()
	for _, m := range v.Members {
		n.agreed[m.ID] = true
	}
	for _, m := range n.members.Members() {
		if m.State == cluster.StateLeft && n.agreed[m.ID] {
			delete(n.agreed, m.ID)
			n.lease.forget(m.ID)
		}
	}
	ok := n.cfg.DisableQuorum || 2*len(v.Members) >= len(n.agreed)
	if n.dur != nil {
		n.noteMembers(v.Members, v.Epoch)
		n.saveState(v.Epoch, slices.Collect(maps.Keys(n.agreed)))
	}
	if n.quorum.Swap(ok) != ok {
		if ok {
			n.log.Info("quorum regained: acknowledging writes again", "live", len(v.Members), "agreed", len(n.agreed))
		} else {
			n.log.Warn("minority side: fewer than half of the agreed members are live; refusing writes", "live", len(v.Members), "agreed", len(n.agreed))
		}
	}
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

// Leave starts a graceful shutdown in the background; Done is closed when
// it has finished.
func (n *Node) Leave() {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*n.cfg.LeaveTimeout+10*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	}()
}

// Shutdown leaves the cluster gracefully: it stops reporting ready, tells
// the cluster it leaves, lets running calls finish (until ctx ends), drains
// the workers of everything they accepted, and releases every socket. It
// may be called more than once; later calls wait and return the first
// result.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutdownOnce.Do(func() {
		n.shutdownErr = n.shutdown(ctx)
		close(n.done)
	})
	<-n.done
	return n.shutdownErr
}

func (n *Node) shutdown(ctx context.Context) error {
	n.leaving.Store(true)
	n.log.Info("leaving the cluster")
	var errs []error
	n.server.SetServing(false)
	atLeave := n.table.Load()
	if err := n.members.Leave(n.cfg.LeaveTimeout); err != nil {
		errs = append(errs, err)
	}
	if len(atLeave.Members()) > 1 && n.started != (time.Time{}) {
		n.waitHandedOff(ctx, atLeave)
	}
	n.pullMu.Lock()
	n.stopping = true
	n.pullMu.Unlock()
	n.repl.close()
	// Everything is handed off: end the clients' streams so they move on,
	// let running calls finish (briefly), then close.
	if n.resp != nil {
		_ = n.resp.Close()
	}
	gctx, gcancel := context.WithTimeout(ctx, 2*time.Second)
	n.server.GracefulStop(gctx)
	gcancel()
	if n.httpSrv != nil {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		_ = n.httpSrv.Shutdown(hctx)
		cancel()
	}
	if n.cancel != nil {
		n.cancel()
	}
	n.pullWG.Wait()
	n.closeListeners()
	if err := n.pool.Close(); err != nil && !errors.Is(err, worker.ErrNotRunning) {
		errs = append(errs, err)
	}
	n.closeLogs()
	if err := n.members.Shutdown(); err != nil {
		errs = append(errs, err)
	}
	n.peers.close()
	n.wg.Wait()
	tctx, tcancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = n.tracing.Shutdown(tctx)
	tcancel()
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// waitHandedOff waits until every partition this node owned has been pulled
// by its new owner (or ctx ends), serving and forwarding meanwhile.
func (n *Node) waitHandedOff(ctx context.Context, t *ring.Table) {
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		left := n.ownedCount(t)
		if left == 0 {
			n.log.Info("every partition handed off", "took", time.Since(start))
			break
		}
		select {
		case <-ctx.Done():
			n.log.Warn("shutdown deadline passed before every partition was handed off", "left", left)
			return
		case <-tick.C:
		}
	}
	// Let replication of the last writes finish.
	for n.repl.pending() > 0 && ctx.Err() == nil {
		<-tick.C
	}
}

// retryViewAfter re-applies the latest view after d (once), so a node whose
// seeds never answer still forms its own cluster at the join timeout.
func (n *Node) retryViewAfter(d time.Duration) {
	if !n.retryArmed.CompareAndSwap(false, true) {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		select {
		case <-time.After(d):
			n.retryArmed.Store(false)
			n.onView(n.members.View())
		case <-n.runCtx.Done():
		}
	}()
}

// Abort stops the node at once, as a crash would: no leave, no handoff, no
// draining. Peers detect the failure. It is for tests and fatal errors;
// Shutdown is the normal way out. Done is closed when it returns.
func (n *Node) Abort() {
	n.shutdownOnce.Do(func() {
		n.leaving.Store(true)
		_ = n.members.Shutdown()
		n.server.Stop()
		if n.resp != nil {
			_ = n.resp.Close()
		}
		if n.httpSrv != nil {
			_ = n.httpSrv.Close()
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.pullMu.Lock()
		n.stopping = true
		n.pullMu.Unlock()
		n.pool.Stop()
		n.closeLogs()
		n.repl.close()
		n.pullWG.Wait()
		n.closeListeners()
		n.peers.close()
		n.wg.Wait()
		close(n.done)
	})
	<-n.done
}
