package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/nothingshared/ns/internal/ratelog"
)

// DefaultLeaveTimeout bounds Leave when it is given a timeout <= 0.
const DefaultLeaveTimeout = 5 * time.Second

// Cluster is this node's membership in the cluster. It is safe for concurrent
// use.
//
// Goroutines: memberlist's own (from New to Shutdown), and from Start on
// those of the Cluster: run (computes and publishes views), advertise
// (re-gossips the local metadata), reconnect (rejoins dead members, unless
// disabled) and, with seeds, join (retries until joined). Shutdown stops and
// waits for all of them.
type Cluster struct {
	cfg       Config
	log       *slog.Logger
	ml        *memberlist.Memberlist
	keyring   *memberlist.Keyring // gossip keys (keyring.go); nil without encryption
	localAddr string              // advertised gossip host:port
	self      []netip.AddrPort    // this node's own gossip addresses, never joined
	// updateTimeout bounds memberlist.UpdateNode in the advertise loop.
	updateTimeout time.Duration
	// updateMu serialises calls to memberlist.UpdateNode: each reads the
	// metadata then takes the next incarnation number, so two concurrent
	// calls could gossip the older metadata with the newer incarnation.
	updateMu sync.Mutex

	// mu guards tr, and orders the stores to meta. memberlist calls the
	// delegate (which takes mu) while holding its internal nodeLock, so the
	// lock order is nodeLock -> mu: never call memberlist with mu held.
	mu sync.Mutex
	tr *tracker
	// meta is the encoding of tr.self, read by NodeMeta without mu; it is
	// stored only with mu held.
	meta atomic.Pointer[[]byte]

	view   atomic.Pointer[View]
	joined atomic.Bool

	// placement is placementOf(Config.Meta), read-only after New: members
	// advertising another are refused (ErrIncompatible).
	placement int
	// keyHash is Config.Meta.KeyHash, read-only after New: members
	// advertising another are refused (ErrIncompatible).
	keyHash int
	// refused is the last refusal of an incompatible member; refusedLog
	// rate-limits the warnings about them.
	refused    atomic.Pointer[error]
	refusedLog *ratelog.Logger

	// wake (capacity 1) tells run that the member table changed; advertiseCh
	// (capacity 1) tells advertise that the local metadata changed. Senders
	// never block: a pending signal already covers the new change.
	wake        chan struct{}
	advertiseCh chan struct{}

	// ctx is cancelled by Shutdown; it stops the goroutines in wg.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// memberlist's failure-detector settings, read-only after New.
	suspicionMult               int
	probeInterval, probeTimeout time.Duration

	// lifeMu serialises Start, Leave and Shutdown; it guards started.
	lifeMu  sync.Mutex
	started bool
	closed  atomic.Bool
}

// New validates cfg and creates the memberlist, which binds the gossip
// sockets and answers other nodes at once. View returns the initial view
// (this node alone, epoch 1) immediately; views are computed and published
// from Start on.
func New(cfg Config) (*Cluster, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	mc := cfg.memberlistConfig()
	c := &Cluster{
		cfg:           cfg,
		log:           cfg.Logger,
		wake:          make(chan struct{}, 1),
		advertiseCh:   make(chan struct{}, 1),
		tr:            newTracker(cfg.NodeID, "", cfg.Meta, time.Now()),
		updateTimeout: min(max(mc.GossipInterval, 10*time.Millisecond), time.Second),
		placement:     placementOf(cfg.Meta),
		keyHash:       cfg.Meta.KeyHash,
		refusedLog:    ratelog.New(cfg.Logger, 10*time.Second),
	}
	if cfg.StartEpoch > 1 {
		c.tr.startAt(min(cfg.StartEpoch, maxEpoch))
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	b, err := c.tr.self.appendTo(nil)
	if err != nil {
		c.cancel()
		return nil, fmt.Errorf("%w: meta: %w", ErrInvalidConfig, err)
	}
	c.meta.Store(&b)
	d := delegate{c: c}
	mc.Delegate, mc.Events, mc.Alive, mc.Ping, mc.Merge = d, d, d, d, d
	c.suspicionMult, c.probeInterval, c.probeTimeout = mc.SuspicionMult, mc.ProbeInterval, mc.ProbeTimeout

	ml, err := memberlist.Create(mc)
	if err != nil {
		c.cancel()
		return nil, fmt.Errorf("cluster: start memberlist: %w", err)
	}
	c.ml = ml
	c.keyring = mc.Keyring // memberlist created it from SecretKey; nil without encryption
	ln := ml.LocalNode()
	c.localAddr = ln.Address()
	if ap, err := netip.ParseAddrPort(c.localAddr); err == nil {
		c.self = append(c.self, unmap(ap))
	}
	if ip, err := netip.ParseAddr(cfg.BindAddr); err == nil && !ip.IsUnspecified() && mc.BindPort > 0 && mc.Transport == nil {
		c.self = append(c.self, unmap(netip.AddrPortFrom(ip, uint16(mc.BindPort))))
	}
	v, _ := c.step()
	c.view.Store(&v)
	return c, nil
}

// Start starts the Cluster's goroutines: views are computed and passed to
// Config.OnView from now on, and the seeds in Config.Join are joined in the
// background, retried with backoff until one answers, ctx ends, or Shutdown. It returns at once; ctx bounds only the join
// retries. With no seeds the node is a one-node cluster, Joined at once.
func (c *Cluster) Start(ctx context.Context) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closed.Load() {
		return ErrShutdown
	}
	if c.started {
		return ErrAlreadyStarted
	}
	c.started = true
	c.wg.Add(2)
	go c.run()
	go c.advertise()
	if c.cfg.ReconnectInterval > 0 {
		c.wg.Add(1)
		go c.reconnectLoop()
	}
	if len(c.cfg.Join) == 0 {
		c.joined.Store(true)
		return nil
	}
	c.wg.Add(1)
	go c.joinLoop(ctx)
	return nil
}

// Join makes one attempt to join the cluster through seeds (host:port or DNS
// names, as Config.Join): it resolves them, drops this node's own address, and
// contacts every address. It returns the number of nodes contacted; the error
// is nil when that is at least one, otherwise it wraps ErrJoinFailed (and
// ErrNoPeers when no address was left to contact, ErrIncompatible when a seed
// was refused for its placement) joined with each failure.
func (c *Cluster) Join(ctx context.Context, seeds []string) (int, error) {
	if c.closed.Load() {
		return 0, ErrShutdown
	}
	addrs, errs := resolveSeeds(ctx, seeds, c.defaultPort(), c.cfg.Resolver, c.isSelf)
	if len(addrs) == 0 {
		return 0, errors.Join(append([]error{ErrJoinFailed, ErrNoPeers}, errs...)...)
	}
	if err := ctx.Err(); err != nil {
		return 0, errors.Join(ErrJoinFailed, err)
	}
	before := c.refused.Load()
	n, err := c.ml.Join(addrs)
	if n == 0 {
		// memberlist flattens the errors of its merge delegate into text:
		// a refusal recorded meanwhile is the reason, kept as an error.
		if r := c.refused.Load(); r != before && r != nil {
			errs = append(errs, *r)
		}
		return 0, errors.Join(append(errs, ErrJoinFailed, err)...)
	}
	c.joined.Store(true)
	if len(errs) > 0 {
		c.log.Debug("cluster: joined with some seeds failing", "contacted", n, "err", errors.Join(errs...))
	}
	return n, nil
}

// SuspicionTimeout is the shortest time the failure detector takes to
// declare a silent member dead once a probe of it failed: memberlist's
// SuspicionMult x ProbeInterval x max(1, log10(members)), with this node's
// settings and its count of members. A member that has not been in contact
// with others for longer may have been declared dead (and its partitions
// moved) by any of them.
func (c *Cluster) SuspicionTimeout() time.Duration {
	return suspicionTimeout(c.suspicionMult, c.ml.NumMembers(), c.probeInterval)
}

// suspicionTimeout is memberlist's own formula (util.go), which it does not
// export.
func suspicionTimeout(mult, n int, interval time.Duration) time.Duration {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	return time.Duration(mult) * time.Duration(scale*1000) * interval / 1000
}

// ProbeTimeout is memberlist's ProbeTimeout: how long a direct probe (and
// Ping) waits for its ack.
func (c *Cluster) ProbeTimeout() time.Duration { return c.probeTimeout }

// Ping probes member id directly, now, and waits at most ProbeTimeout for
// its ack. On success it reports the contact to Config.OnContact (with the
// time the ping was sent) and returns that time. It fails when id is not a
// live member memberlist knows, or does not answer in time.
//
// The address comes from this node's own member table, not from
// memberlist.Members: that returns pointers to memberlist's live node
// records, which it rewrites under its lock when a member's alive message
// arrives, so reading one after the call is a data race (seen under -race).
func (c *Cluster) Ping(id string) (time.Time, error) {
	c.mu.Lock()
	var addr string
	if r, ok := c.tr.members[id]; ok && r.State.Live() {
		addr = r.GossipAddr
	}
	c.mu.Unlock()
	if addr == "" {
		return time.Time{}, fmt.Errorf("%w: %s", ErrUnknownMember, id)
	}
	sent := time.Now()
	if _, err := c.ml.Ping(id, gossipAddr(addr)); err != nil {
		return time.Time{}, fmt.Errorf("cluster: ping %s: %w", id, err)
	}
	if f := c.cfg.OnContact; f != nil {
		f(id, sent)
	}
	return sent, nil
}

// gossipAddr is a member's gossip address (host:port) as the net.Addr
// memberlist.Ping takes; memberlist reads only its String.
type gossipAddr string

func (a gossipAddr) Network() string { return "udp" }
func (a gossipAddr) String() string  { return string(a) }

// LocalID returns this node's id.
func (c *Cluster) LocalID() string { return c.cfg.NodeID }

// LocalAddr returns this node's advertised gossip address, host:port.
func (c *Cluster) LocalAddr() string { return c.localAddr }

// View returns the latest published view.
func (c *Cluster) View() View { return *c.view.Load() }

// Members returns every member this node knows of, this node included, with
// its state, sorted by ID. Dead and left members are kept for
// Config.ReapTimeout. A dead member is reported StateLeft when its last
// metadata announced a graceful leave (Leave does that first), which reaches
// most but not necessarily all nodes.
func (c *Cluster) Members() []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tr.all()
}

// Joined reports whether a seed has answered a Join (Start's or a direct
// call), or, after Start, whether no seeds are configured. Another node
// joining this one does not count: it may not be in the seeds' cluster.
func (c *Cluster) Joined() bool { return c.joined.Load() }

// HealthScore returns memberlist's health score: 0 is healthy, higher means
// this node is failing to meet the protocol's soft real-time requirements
// (e.g. a starved CPU).
func (c *Cluster) HealthScore() int { return c.ml.GetHealthScore() }

// SetMeta replaces the metadata this node advertises. The new metadata reaches
// other nodes by gossip; the local view reflects it at once (after Start).
//
// Meta.Placement and Meta.KeyHash cannot change: members are admitted by
// them.
func (c *Cluster) SetMeta(m Meta) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if placementOf(m) != c.placement {
		return fmt.Errorf("%w: placement %d, joined with %d: it cannot change", ErrBadMeta, placementOf(m), c.placement)
	}
	if m.KeyHash != c.keyHash {
		return fmt.Errorf("%w: key hash %d, joined with %d: it cannot change", ErrBadMeta, m.KeyHash, c.keyHash)
	}
	if c.closed.Load() {
		return ErrShutdown
	}
	c.mu.Lock()
	c.tr.setMeta(m)
	c.storeMetaLocked()
	c.mu.Unlock()
	signal(c.advertiseCh)
	signal(c.wake)
	return nil
}

// Leave leaves the cluster gracefully and shuts down: it advertises that this
// node is leaving (so other nodes report it StateLeft rather than StateDead),
// broadcasts memberlist's leave message, then calls Shutdown. timeout bounds
// the broadcasts (<= 0 means DefaultLeaveTimeout). The error wraps
// ErrLeaveTimeout if the leave message was not sent in time; the node is shut
// down in every case. Other nodes drop this one from their views as soon as
// the message reaches them, without waiting for the failure detector.
func (c *Cluster) Leave(timeout time.Duration) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closed.Load() {
		return ErrShutdown
	}
	if timeout <= 0 {
		timeout = DefaultLeaveTimeout
	}
	deadline := time.Now().Add(timeout)
	c.mu.Lock()
	c.tr.setLeaving()
	c.storeMetaLocked()
	c.mu.Unlock()
	if err := c.updateNode(timeout / 2); err != nil {
		c.log.Debug("cluster: leave intent not fully broadcast", "err", err)
	}
	var errs []error
	if err := c.ml.Leave(max(time.Until(deadline), time.Millisecond)); err != nil {
		errs = append(errs, fmt.Errorf("%w: %v", ErrLeaveTimeout, err))
	}
	if err := c.shutdownLocked(); err != nil {
		errs = append(errs, err)
	}
	c.log.Info("cluster: left", "node", c.cfg.NodeID)
	return errors.Join(errs...)
}

// Shutdown stops gossip without a leave message (other nodes will find this
// one dead through the failure detector), stops the Cluster's goroutines and
// waits for them. It may be called more than once; it must not be called from
// Config.OnView.
func (c *Cluster) Shutdown() error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	return c.shutdownLocked()
}

func (c *Cluster) shutdownLocked() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.cancel()
	err := c.ml.Shutdown()
	c.wg.Wait()
	if err != nil {
		return fmt.Errorf("cluster: shutdown memberlist: %w", err)
	}
	return nil
}

// step recomputes the view from the member table. When the local epoch
// changed it re-encodes the local metadata and signals advertise; when the
// view changed it stores it. It returns the current view and whether it
// changed.
func (c *Cluster) step() (View, bool) {
	c.mu.Lock()
	v, changed, adv := c.tr.compute()
	if adv {
		c.storeMetaLocked()
	}
	c.mu.Unlock()
	if adv {
		signal(c.advertiseCh)
	}
	if changed {
		c.view.Store(&v)
	}
	return v, changed
}

// storeMetaLocked encodes tr.self into meta; c.mu must be held.
func (c *Cluster) storeMetaLocked() {
	b, err := c.tr.self.appendTo(nil)
	if err != nil {
		// Unreachable: the metadata was validated and epochs stay in range.
		c.log.Error("cluster: cannot encode local metadata", "err", err)
		return
	}
	c.meta.Store(&b)
}

// run publishes views: the current one first, then one per change. It is the
// only caller of Config.OnView.
func (c *Cluster) run() {
	defer c.wg.Done()
	tick := time.NewTicker(min(max(c.cfg.ReapTimeout/10, 100*time.Millisecond), time.Minute))
	defer tick.Stop()
	var prev View
	publish := func(v View) {
		c.logChange(prev, v)
		prev = v
		if c.cfg.OnView != nil {
			c.cfg.OnView(v)
		}
	}
	v, _ := c.step()
	publish(v)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
			if v, changed := c.step(); changed {
				publish(v)
			}
		case now := <-tick.C:
			c.maintain(now)
		}
	}
}

// maintain is the periodic housekeeping of the member table, run by run:
// it forgets dead and left members older than Config.ReapTimeout. Work on
// dead members that needs no event to trigger it belongs here.
func (c *Cluster) maintain(now time.Time) {
	c.mu.Lock()
	n := c.tr.reap(now.Add(-c.cfg.ReapTimeout))
	c.mu.Unlock()
	if n > 0 {
		c.log.Debug("cluster: reaped dead members", "count", n)
	}
}

// advertise re-gossips the local metadata each time advertiseCh fires.
// memberlist.UpdateNode waits for the broadcast, at most updateTimeout; a
// timeout is harmless (the broadcast stays queued) and lets bursts coalesce.
func (c *Cluster) advertise() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.advertiseCh:
			if err := c.updateNode(c.updateTimeout); err != nil {
				c.log.Debug("cluster: metadata update not yet broadcast", "err", err)
			}
		}
	}
}

// updateNode re-gossips the local metadata, waiting at most timeout for the
// broadcast.
func (c *Cluster) updateNode(timeout time.Duration) error {
	c.updateMu.Lock()
	defer c.updateMu.Unlock()
	return c.ml.UpdateNode(timeout)
}

// joinLoop retries Join with exponential backoff (and ±20% jitter) until a
// seed answers, ctx ends or Shutdown. Being joined by another node does not
// stop it: that node may belong to another partition than the seeds.
func (c *Cluster) joinLoop(ctx context.Context) {
	defer c.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.ctx, cancel)()
	delay := c.cfg.JoinRetryInterval
	for attempt := 1; ; attempt++ {
		n, err := c.Join(ctx, c.cfg.Join)
		if n > 0 {
			c.log.Info("cluster: joined", "node", c.cfg.NodeID, "contacted", n, "attempts", attempt)
			return
		}
		if ctx.Err() != nil {
			if c.ctx.Err() == nil {
				c.log.Warn("cluster: join abandoned", "node", c.cfg.NodeID, "attempts", attempt, "err", err)
			}
			return
		}
		wait := jitter(delay)
		c.log.Warn("cluster: join failed, retrying", "node", c.cfg.NodeID, "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		delay = min(delay*2, MaxJoinRetryInterval)
	}
}

// jitter returns d ± 20%.
func jitter(d time.Duration) time.Duration {
	if d < 5 {
		return d
	}
	return d - d/5 + rand.N(2*d/5+1)
}

// logChange logs the members that joined and left between two views.
func (c *Cluster) logChange(prev, v View) {
	if prev.Epoch == v.Epoch && prev.Hash == v.Hash {
		return
	}
	var added, removed []string
	for _, m := range v.Members {
		if _, ok := prev.Member(m.ID); !ok && prev.Local != "" {
			added = append(added, m.ID)
		}
	}
	for _, m := range prev.Members {
		if _, ok := v.Member(m.ID); !ok {
			removed = append(removed, m.ID)
		}
	}
	c.log.Info("cluster: view", "node", v.Local, "epoch", v.Epoch, "members", len(v.Members), "added", added, "removed", removed)
}

// defaultPort is the port of a seed given without one: this node's
// advertised gossip port, as every node of a deployment usually shares it.
func (c *Cluster) defaultPort() int {
	if ap, err := netip.ParseAddrPort(c.localAddr); err == nil {
		return int(ap.Port())
	}
	return DefaultGossipPort
}

// isSelf reports whether ap is one of this node's own gossip addresses.
func (c *Cluster) isSelf(ap netip.AddrPort) bool {
	ap = unmap(ap)
	for _, s := range c.self {
		if s == ap {
			return true
		}
	}
	return false
}

// resolveSeeds turns seeds into the distinct ip:port addresses to join,
// dropping those isSelf reports. It returns one error per seed that failed
// to resolve.
func resolveSeeds(ctx context.Context, seeds []string, defaultPort int, resolve Resolver, isSelf func(netip.AddrPort) bool) ([]string, []error) {
	var (
		addrs []string
		errs  []error
		seen  = make(map[netip.AddrPort]bool)
	)
	for _, s := range seeds {
		host, port, err := splitSeed(s, defaultPort)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var ips []string
		if _, err := netip.ParseAddr(host); err == nil {
			ips = []string{host}
		} else {
			ips, err = resolve(ctx, host)
			if err != nil {
				errs = append(errs, fmt.Errorf("resolve seed %q: %w", s, err))
				continue
			}
			if len(ips) == 0 {
				errs = append(errs, fmt.Errorf("resolve seed %q: no addresses", s))
				continue
			}
		}
		for _, ipS := range ips {
			ip, err := netip.ParseAddr(ipS)
			if err != nil {
				errs = append(errs, fmt.Errorf("seed %q: bad address %q", s, ipS))
				continue
			}
			ap := unmap(netip.AddrPortFrom(ip.WithZone(""), uint16(port)))
			if seen[ap] || (isSelf != nil && isSelf(ap)) {
				continue
			}
			seen[ap] = true
			addrs = append(addrs, net.JoinHostPort(ap.Addr().String(), strconv.Itoa(int(ap.Port()))))
		}
	}
	return addrs, errs
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// signal sends on a capacity-1 channel without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// delegate receives memberlist's callbacks. They run on memberlist's gossip
// goroutines, holding its locks: they only update the member table under
// Cluster.mu and signal run, never block, never call memberlist.
type delegate struct{ c *Cluster }

var (
	_ memberlist.Delegate      = delegate{}
	_ memberlist.EventDelegate = delegate{}
	_ memberlist.AliveDelegate = delegate{}
	_ memberlist.PingDelegate  = delegate{}
	_ memberlist.MergeDelegate = delegate{}
)

// AckPayload adds nothing to the acks this node sends.
func (d delegate) AckPayload() []byte { return nil }

// NotifyPingComplete reports a direct probe that member other answered as
// contact with it, at the time the probe was sent (Config.OnContact).
func (d delegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, _ []byte) {
	if f := d.c.cfg.OnContact; f != nil && other != nil {
		f(other.Name, time.Now().Add(-rtt))
	}
}

// NodeMeta returns the encoded local metadata.
func (d delegate) NodeMeta(limit int) []byte {
	b := *d.c.meta.Load()
	if len(b) > limit {
		return nil
	}
	return b
}

// NotifyMsg ignores user messages (none are sent).
func (d delegate) NotifyMsg([]byte) {}

// GetBroadcasts returns no user broadcasts.
func (d delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState returns no push/pull state.
func (d delegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState ignores push/pull state.
func (d delegate) MergeRemoteState(buf []byte, join bool) {}

// NotifyAlive admits only nodes whose metadata decodes and that place
// partitions as this node does: a node with foreign or corrupt metadata or
// another Meta.Placement never becomes a member.
func (d delegate) NotifyAlive(n *memberlist.Node) error {
	if n.Name == d.c.cfg.NodeID {
		return nil
	}
	w, err := decodeWire(n.Meta)
	if err != nil {
		return err
	}
	return d.c.compatible(n.Name, w.Meta)
}

// NotifyMerge refuses a push/pull merge (a join, in either direction) with a
// cluster that holds a node of another Meta.Placement, so that Join fails
// with ErrIncompatible rather than joining no one. Nodes whose metadata does
// not decode are left to NotifyAlive.
func (d delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, n := range peers {
		if n.Name == d.c.cfg.NodeID {
			continue
		}
		if w, err := decodeWire(n.Meta); err == nil {
			if err := d.c.compatible(n.Name, w.Meta); err != nil {
				return err
			}
		}
	}
	return nil
}

// compatible returns an error wrapping ErrIncompatible, also recorded for
// Refused and logged (rate-limited), if member id with metadata m places
// partitions differently from this node.
func (c *Cluster) compatible(id string, m Meta) error {
	var err error
	switch {
	case placementOf(m) != c.placement:
		err = fmt.Errorf("%w: %s places partitions with placement version %d, this node with %d: every node of a cluster must run the same --placement (docs/rebalancing.md)",
			ErrIncompatible, id, placementOf(m), c.placement)
	case m.KeyHash != c.keyHash:
		err = fmt.Errorf("%w: %s places keys with key hash %d, this node with %d: every node of a cluster must run with --resp-cluster, or none (docs/resp.md)",
			ErrIncompatible, id, m.KeyHash, c.keyHash)
	default:
		return nil
	}
	c.refused.Store(&err)
	c.refusedLog.Warn("cluster: member refused", "node", c.cfg.NodeID, "member", id, "err", err)
	return err
}

// Refused returns the last refusal of a member for incompatibility (wrapping
// ErrIncompatible), or nil if no member was ever refused. A node that cannot
// join because its seeds were refused should not start a cluster of its own.
func (c *Cluster) Refused() error {
	if p := c.refused.Load(); p != nil {
		return *p
	}
	return nil
}

// NotifyJoin records a member as alive.
func (d delegate) NotifyJoin(n *memberlist.Node) { d.alive(n) }

// NotifyUpdate records a member's new metadata.
func (d delegate) NotifyUpdate(n *memberlist.Node) { d.alive(n) }

// NotifyLeave records a member as dead or left.
func (d delegate) NotifyLeave(n *memberlist.Node) {
	w, err := decodeWire(n.Meta)
	if err == nil && n.State == memberlist.StateLeft {
		// memberlist saw the member announce its own death (Leave): it left
		// gracefully even if its Leaving metadata did not reach us first.
		w.Leaving = true
	}
	addr, now := n.Address(), time.Now()
	d.c.mu.Lock()
	d.c.tr.gone(n.Name, addr, w, err == nil, now)
	d.c.mu.Unlock()
	signal(d.c.wake)
}

func (d delegate) alive(n *memberlist.Node) {
	w, err := decodeWire(n.Meta)
	if err != nil && n.Name != d.c.cfg.NodeID {
		return // NotifyAlive rejects such nodes; never reached
	}
	addr, now := n.Address(), time.Now()
	d.c.mu.Lock()
	d.c.tr.alive(n.Name, addr, w, now)
	d.c.mu.Unlock()
	signal(d.c.wake)
}
