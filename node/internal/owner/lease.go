package owner

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Lease is a node's serving lease (docs/handoff.md section 9) as pure
// state: node/ feeds it contacts and ticks with the time read from its
// monotonic clock, and carries out what Step returns (logs, metrics, pings,
// the verification of every owned partition). No clock, no goroutine.
//
// A node serves a partition only while it has heard, within the failure
// detector's suspicion timeout T, from at least half of the last agreed
// members (itself included: the quorum rule). The others may declare it
// dead no sooner than T after a probe of theirs failed, and a probe sent
// after the last contact it answered; so, as long as clocks run at about
// the same rate, its lease has run out before anyone takes its partitions
// over. A contact is stamped with the time it was sent, so one read late
// (queued while the node was stopped) never looks fresher than it is.
//
// Times are durations since an origin of the caller's choosing (node/ uses
// its start), on one monotonic clock.
type Lease struct {
	// Self is this node; contacts with it are ignored.
	Self string
	// Disabled: the split-brain protection is off; the lease never ends.
	Disabled bool
	// MaxPings bounds the pings in flight (0: no bound).
	MaxPings int

	// Until: serving is allowed while now < Until.
	Until time.Duration
	// Gen is bumped each time the lease lapses: a partition must have been
	// verified under the current generation to be served.
	Gen uint64
	// Lapsed is when the current lapse began (valid only while lapsed).
	Lapsed   time.Duration
	isLapsed bool

	contact map[string]time.Duration // member -> last contact
	pinging map[string]bool          // members with a ping in flight
}

// NewLease returns a lease that has not lapsed yet and holds until the
// first Step says otherwise.
func NewLease(self string) *Lease {
	return &Lease{Self: self, Until: math.MaxInt64, contact: map[string]time.Duration{}, pinging: map[string]bool{}}
}

// LeaseEffects is what one Step asks of its caller.
type LeaseEffects struct {
	// Lapsed: the lease was found lapsed now (perhaps long after it ran
	// out: the node was paused), LapsedFor ago. Gen was bumped.
	Lapsed    bool
	LapsedFor time.Duration
	// Back: the lease holds again after a lapse of BackAfter; every owned
	// partition must be verified before it is served.
	Back      bool
	BackAfter time.Duration
	// Ping: members not heard from for a third of the timeout, to be
	// pinged now (each answer comes back through Note; call PingDone when
	// the ping ends either way).
	Ping []string
}

// Valid reports whether the node may serve at now.
func (l *Lease) Valid(now time.Duration) bool { return now < l.Until }

// Note records contact with member id at time at (when the probe or call
// that it answered was sent).
func (l *Lease) Note(id string, at time.Duration) {
	if id == l.Self {
		return
	}
	if c, ok := l.contact[id]; !ok || at > c {
		l.contact[id] = at
	}
}

// Forget drops a member that left gracefully.
func (l *Lease) Forget(id string) { delete(l.contact, id) }

// Pinging is the number of pings in flight.
func (l *Lease) Pinging() int { return len(l.pinging) }

// PingDone ends a ping Step asked for.
func (l *Lease) PingDone(id string) { delete(l.pinging, id) }

// Step recomputes the lease at now, given the last agreed members (this
// node included) and the suspicion timeout.
func (l *Lease) Step(now time.Duration, agreed []string, timeout time.Duration) LeaseEffects {
	var eff LeaseEffects
	total := max(len(agreed), 1)
	var contacts []time.Duration
	for _, id := range agreed {
		if id == l.Self {
			continue
		}
		c, ok := l.contact[id]
		if !ok {
			// A member first seen now: give it the time to be probed.
			c = now
			l.contact[id] = c
		}
		contacts = append(contacts, c)
		if now-c > timeout/3 && !l.pinging[id] && (l.MaxPings == 0 || len(l.pinging) < l.MaxPings) {
			l.pinging[id] = true
			eff.Ping = append(eff.Ping, id)
		}
	}
	until := LeaseUntil(contacts, total, timeout)
	if l.Disabled {
		until = math.MaxInt64
	}
	if now >= l.Until && !l.isLapsed {
		l.Gen++
		l.isLapsed, l.Lapsed = true, l.Until
		eff.Lapsed, eff.LapsedFor = true, now-l.Until
	}
	l.Until = until
	if l.isLapsed && now < until {
		l.isLapsed = false
		eff.Back, eff.BackAfter = true, now-l.Lapsed
	}
	return eff
}

// LeaseUntil is the end of the lease, given the last contact of each agreed
// member other than this node and the number of agreed members (this node
// included): the time the freshest contacts stop making half of them
// (beyond this node itself) plus the suspicion timeout. With nobody needed
// (a cluster of one or two) it never ends; without enough contacts it has
// ended (math.MinInt64).
func LeaseUntil(contacts []time.Duration, agreed int, timeout time.Duration) time.Duration {
	need := (agreed+1)/2 - 1 // 2*(1+need) >= agreed, the quorum rule
	if need <= 0 {
		return math.MaxInt64
	}
	if len(contacts) < need {
		return math.MinInt64
	}
	c := slices.Clone(contacts)
	slices.SortFunc(c, func(a, b time.Duration) int { return cmp.Compare(b, a) }) // newest first
	last := c[need-1]
	if last > math.MaxInt64-timeout {
		return math.MaxInt64
	}
	return last + timeout
}
