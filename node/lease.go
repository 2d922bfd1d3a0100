package node

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"
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

// lease is a node's serving lease: owner.Lease (the rule, pure) behind a
// mutex, with its end and generation mirrored in atomics that workers read
// on every batch. The keeper goroutine is the only writer of until and gen.
type lease struct {
	self string
	log  *slog.Logger
	base time.Time // monotonic origin of the nanosecond stamps below

	// What it needs of its node, set by newLease (replaced in tests).
	agreed  func() []string // the last agreed members, this node included
	ping    func(id string) // probe id now; success reaches note
	onBack  func()          // the lease came back: verify what is owned
	timeout func() time.Duration
	lapses  *atomic.Uint64 // counts lapses, for metrics

	until atomic.Int64  // serving is allowed while mono(now) < until
	gen   atomic.Uint64 // bumped each time the lease lapsed

	mu   sync.Mutex   // guards core
	core *owner.Lease // contacts, pings in flight, the lapse
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
		ping:    func(id string) { _, _ = n.members.Ping(id) },
		onBack:  n.requestReplan,
		timeout: func() time.Duration { return n.members.SuspicionTimeout() },
		lapses:  &n.obs().leaseLapses,
		core:    owner.NewLease(n.cfg.NodeID),
	}
	l.core.Disabled = n.cfg.DisableQuorum
	l.core.MaxPings = maxLeasePings
	l.until.Store(math.MaxInt64)
	return l
}

func (l *lease) mono(t time.Time) time.Duration { return t.Sub(l.base) }

// note records contact with member id at time at. Safe for concurrent use;
// it never blocks for long (memberlist calls it).
func (l *lease) note(id string, at time.Time) {
	m := l.mono(at)
	l.mu.Lock()
	l.core.Note(id, m)
	l.mu.Unlock()
}

// check reports whether the node may serve at now, and the lease
// generation a partition must have been verified under to be served.
// Readers load until before gen; the keeper stores gen before until.
func (l *lease) check(now time.Time) (gen uint64, ok bool) {
	u := l.until.Load()
	g := l.gen.Load()
	return g, int64(l.mono(now)) < u
}

// lapsedFor says, when the lease is not valid at now, for how long; 0 when
// it is valid.
func (l *lease) lapsedFor(now time.Time) time.Duration {
	if _, ok := l.check(now); ok {
		return 0
	}
	return l.mono(now) - time.Duration(l.until.Load())
}

// errLapsed is what a node without a lease answers.
func (l *lease) errLapsed(now time.Time) error {
	return fmt.Errorf("%w: node %s has heard from fewer than half of the cluster's last agreed members for longer than the failure detector's suspicion timeout (%v): its partitions may have moved meanwhile, so it serves none until it has heard from them again and verified each; retry on another node",
		transport.ErrUnavailable, l.self, l.timeout())
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

// step is one round of the keeper at now: owner.Lease.Step, carried out.
func (l *lease) step(now time.Time, timeout time.Duration) {
	agreed := l.agreed()
	l.mu.Lock()
	eff := l.core.Step(l.mono(now), agreed, timeout)
	gen, until := l.core.Gen, l.core.Until
	l.mu.Unlock()
	l.gen.Store(gen)
	l.until.Store(int64(until))
	if eff.Lapsed {
		// Lapsed (noticed now, perhaps long after: this node was paused).
		// Whatever comes back, what was owned before must be verified.
		l.log.Warn("serving lease lapsed: heard from fewer than half of the last agreed members within the suspicion timeout; serving nothing until contact is back and each partition is verified",
			"timeout", timeout, "agreed", max(len(agreed), 1), "lapsed_for", eff.LapsedFor.Round(time.Millisecond))
		l.lapses.Add(1)
	}
	if eff.Back {
		l.log.Info("serving lease back: verifying every owned partition before it serves", "lapsed_for", eff.BackAfter.Round(time.Millisecond))
		l.onBack()
	}
	for _, id := range eff.Ping {
		go l.pingOnce(id)
	}
}

// maxLeasePings bounds the keeper's pings in flight.
const maxLeasePings = 64

func (l *lease) pingOnce(id string) {
	defer func() {
		l.mu.Lock()
		l.core.PingDone(id)
		l.mu.Unlock()
	}()
	l.ping(id) // reports success through note
}

// forget drops a member that left gracefully.
func (l *lease) forget(id string) {
	l.mu.Lock()
	l.core.Forget(id)
	l.mu.Unlock()
}
