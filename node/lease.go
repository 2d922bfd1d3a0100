package node

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nothingshared/ns/transport"
)

// The serving lease (docs/handoff.md, "Serving after silence"). Any member
// may declare this node dead once a probe of it failed and the failure
// detector's suspicion timeout passed; the others then take its partitions
// over and write to them. A node that was paused (SIGSTOP, a long GC, a
// starved VM) or cut off does not see that happen: when it runs again it
// still holds its old table and copies. So a node serves a partition only
// while it has heard, within the suspicion timeout, from at least half of
// the last agreed members (itself included; the quorum rule). When that
// fails (the lease lapses) it answers nothing for any partition, read or
// write; once contact is back it serves again only the partitions it has
// verified since (pulled what others hold and kept the newest copy): each
// partition remembers the lease generation it was verified under.
//
// Contact is evidence that a member was reachable at a known time of this
// node's monotonic clock: a failure-detector probe it answered (at the time
// the probe was sent), a Ping of the keeper's own, or a peer RPC it answered
// (at the time the call began). Evidence received late (queued while this
// node was paused) carries its sending time, so it never looks fresher than
// it is. The timing assumption is that clocks run at about the same rate:
// this node's suspicion-timeout window must not end later, in real time,
// than the others' (memberlist's timers are on their own monotonic clocks).

// lease is a node's serving lease. The keeper goroutine is its only writer
// of until and gen; workers read them on every batch.
type lease struct {
	self string
	log  *slog.Logger
	base time.Time // monotonic origin of the nanosecond stamps below

	// What it needs of its node, set by newLease (replaced in tests).
	agreed   func() []string // the last agreed members, this node included
	ping     func(id string) // probe id now; success reaches note
	onBack   func()          // the lease came back: verify what is owned
	disabled bool            // Config.DisableQuorum: never lapses
	timeout  func() time.Duration
	lapses   *atomic.Uint64 // counts lapses, for metrics

	until atomic.Int64  // serving is allowed while mono(now) < until
	gen   atomic.Uint64 // bumped each time the lease lapsed
	lapse atomic.Int64  // mono time the current lapse began; 0 while valid

	mu      sync.Mutex       // guards contact and pinging
	contact map[string]int64 // member -> last contact (mono ns)
	pinging map[string]bool  // members with a keeper Ping in flight
}

func newLease(n *Node) *lease {
	l := &lease{
		self: n.cfg.NodeID, log: n.log, base: time.Now(),
		agreed: func() []string {
			n.quorumMu.Lock()
			defer n.quorumMu.Unlock()
			out := make([]string, 0, len(n.agreed))
			for id := range n.agreed {
				out = append(out, id)
			}
			return out
		},
		ping:     func(id string) { _, _ = n.members.Ping(id) },
		onBack:   n.requestReplan,
		disabled: n.cfg.DisableQuorum,
		timeout:  func() time.Duration { return n.members.SuspicionTimeout() },
		lapses:   &n.obs().leaseLapses,
		contact:  map[string]int64{},
		pinging:  map[string]bool{},
	}
	l.until.Store(math.MaxInt64)
	return l
}

func (l *lease) mono(t time.Time) int64 { return int64(t.Sub(l.base)) }

// note records contact with member id at time at. Safe for concurrent use;
// it never blocks for long (memberlist calls it).
func (l *lease) note(id string, at time.Time) {
	if id == l.self {
		return
	}
	m := l.mono(at)
	l.mu.Lock()
	if m > l.contact[id] {
		l.contact[id] = m
	}
	l.mu.Unlock()
}

// check reports whether the node may serve at now, and the lease
// generation a partition must have been verified under to be served.
// Readers load until before gen; the keeper stores gen before until.
func (l *lease) check(now time.Time) (gen uint64, ok bool) {
	u := l.until.Load()
	g := l.gen.Load()
	return g, l.mono(now) < u
}

// lapsedFor says, when the lease is not valid at now, for how long; 0 when
// it is valid.
func (l *lease) lapsedFor(now time.Time) time.Duration {
	if _, ok := l.check(now); ok {
		return 0
	}
	u := l.until.Load()
	return time.Duration(l.mono(now) - u)
}

// errLapsed is what a node without a lease answers.
func (l *lease) errLapsed(now time.Time) error {
	return fmt.Errorf("%w: node %s has heard from fewer than half of the cluster's last agreed members for longer than the failure detector's suspicion timeout (%v): its partitions may have moved meanwhile, so it serves none until it has heard from them again and verified each; retry on another node",
		transport.ErrUnavailable, l.self, l.timeout())
}

// leaseUntil is the end of the lease, given the last contact (mono ns) of
// each agreed member other than this node and the number of agreed members
// (this node included): the time the freshest contacts stop making half of
// them (need others, beyond this node itself) plus the suspicion timeout.
// With nobody needed (a cluster of one or two) it never ends.
func leaseUntil(contacts []int64, agreed int, timeout time.Duration) int64 {
	need := (agreed+1)/2 - 1 // 2*(1+need) >= agreed, the quorum rule
	if need <= 0 {
		return math.MaxInt64
	}
	if len(contacts) < need {
		return math.MinInt64
	}
	c := slices.Clone(contacts)
	slices.SortFunc(c, func(a, b int64) int { return cmp.Compare(b, a) }) // newest first
	last := c[need-1]
	if last > math.MaxInt64-int64(timeout) {
		return math.MaxInt64
	}
	return last + int64(timeout)
}

// keep is the keeper goroutine: it recomputes the lease, bumps the
// generation when it lapsed, asks for every owned partition to be verified
// when it comes back, and pings members it has not heard from lately.
func (l *lease) keep(ctx context.Context) {
	for {
		timeout := l.timeout()
		tick := min(max(timeout/8, 10*time.Millisecond), 100*time.Millisecond)
		select {
		case <-ctx.Done():
			return
		case <-time.After(tick):
		}
		l.step(time.Now(), timeout)
	}
}

// step is one round of the keeper at now.
func (l *lease) step(now time.Time, timeout time.Duration) {
	m := l.mono(now)
	agreed := l.agreed()
	total := max(len(agreed), 1)
	var contacts []int64
	var stale []string
	l.mu.Lock()
	for _, id := range agreed {
		if id == l.self {
			continue
		}
		c, ok := l.contact[id]
		if !ok {
			// A member first seen now: give it the time to be probed.
			c = m
			l.contact[id] = c
		}
		contacts = append(contacts, c)
		if m-c > int64(timeout/3) && !l.pinging[id] && len(l.pinging) < maxLeasePings {
			l.pinging[id] = true
			stale = append(stale, id)
		}
	}
	l.mu.Unlock()
	until := leaseUntil(contacts, total, timeout)
	if l.disabled {
		until = math.MaxInt64 // split-brain protection is off: so is the lease
	}
	if old := l.until.Load(); m >= old && l.lapse.Load() == 0 {
		// Lapsed (noticed now, perhaps long after: this node was paused).
		// Whatever comes back, what was owned before must be verified.
		l.gen.Add(1)
		l.lapse.Store(max(old, 1))
		l.log.Warn("serving lease lapsed: heard from fewer than half of the last agreed members within the suspicion timeout; serving nothing until contact is back and each partition is verified",
			"timeout", timeout, "agreed", total, "lapsed_for", time.Duration(m-old).Round(time.Millisecond))
		l.lapses.Add(1)
	}
	l.until.Store(until)
	if since := l.lapse.Load(); since != 0 && m < until {
		l.lapse.Store(0)
		l.log.Info("serving lease back: verifying every owned partition before it serves", "lapsed_for", time.Duration(m-since).Round(time.Millisecond))
		l.onBack()
	}
	for _, id := range stale {
		go l.pingOnce(id)
	}
}

// maxLeasePings bounds the keeper's pings in flight.
const maxLeasePings = 64

func (l *lease) pingOnce(id string) {
	defer func() {
		l.mu.Lock()
		delete(l.pinging, id)
		l.mu.Unlock()
	}()
	l.ping(id) // reports success through note
}

// forget drops a member that left gracefully.
func (l *lease) forget(id string) {
	l.mu.Lock()
	delete(l.contact, id)
	l.mu.Unlock()
}
