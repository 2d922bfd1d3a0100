package cluster

import (
	"slices"
	"strings"
	"time"
)

// tracker is the synchronous core of a Cluster: the member table fed by
// memberlist's events, and the epoch agreement rule (doc.go). It does no I/O,
// starts no goroutine and reads no clock; it is not safe for concurrent use
// (Cluster guards it with Cluster.mu). Tests drive it directly.
type tracker struct {
	// self is what this node advertises; self.Epoch and self.SetHash are the
	// current epoch and the hash of the member set it numbers.
	self wireMeta
	// members holds every member heard of, this node included, by id.
	members map[string]*record
	// view is the last computed view.
	view View
}

// record is the tracker's knowledge of one member.
type record struct {
	Member
	wire  wireMeta  // last decoded meta (its Meta is also in Member.Meta)
	since time.Time // last state change
}

// newTracker returns a tracker holding only the local node, at epoch 1.
func newTracker(id, addr string, meta Meta, now time.Time) *tracker {
	t := &tracker{members: make(map[string]*record)}
	t.self = wireMeta{Meta: meta, Epoch: 1, SetHash: setHash([]string{id})}
	t.members[id] = &record{Member: Member{ID: id, GossipAddr: addr, Meta: meta}, wire: t.self, since: now}
	t.view = View{Epoch: 1, Hash: t.self.SetHash, Local: id, Members: []Member{t.members[id].Member}}
	return t
}

// startAt numbers the tracker's first view epoch instead of 1 (a node
// restarted from its data directory continues above the epochs it saw).
func (t *tracker) startAt(epoch uint64) {
	t.self.Epoch = epoch
	t.view.Epoch = epoch
}

// local returns this node's id.
func (t *tracker) local() string { return t.view.Local }

// alive records that member id is alive at addr, advertising w (a join, a
// rejoin or a metadata update).
func (t *tracker) alive(id, addr string, w wireMeta, now time.Time) {
	r := t.members[id]
	if id == t.local() {
		// Our own metadata is authoritative here; memberlist only echoes it.
		r.GossipAddr = addr
		return
	}
	if r == nil {
		r = &record{Member: Member{ID: id}}
		t.members[id] = r
	}
	if r.State != StateAlive || r.since.IsZero() {
		r.since = now
	}
	r.GossipAddr, r.Meta, r.State, r.wire = addr, w.Meta, StateAlive, w
}

// gone records that member id is dead or has left. A member whose last meta
// announced a graceful leave is marked StateLeft, otherwise StateDead.
func (t *tracker) gone(id, addr string, w wireMeta, ok bool, now time.Time) {
	if id == t.local() {
		return
	}
	r := t.members[id]
	if r == nil {
		r = &record{Member: Member{ID: id, GossipAddr: addr}}
		t.members[id] = r
	}
	if ok {
		r.Meta, r.wire = w.Meta, w
	}
	st := StateDead
	if r.wire.Leaving {
		st = StateLeft
	}
	if r.State != st || r.since.IsZero() {
		r.since = now
	}
	r.State = st
}

// setMeta replaces the local metadata.
func (t *tracker) setMeta(m Meta) {
	t.self.Meta = m
	t.members[t.local()].Meta = m
}

// setLeaving marks the local node as leaving in its advertised metadata.
func (t *tracker) setLeaving() { t.self.Leaving = true }

// reap forgets dead and left members whose state changed before cutoff, and
// returns how many it forgot.
func (t *tracker) reap(cutoff time.Time) int {
	n := 0
	for id, r := range t.members {
		if !r.State.Live() && r.since.Before(cutoff) {
			delete(t.members, id)
			n++
		}
	}
	return n
}

// all returns every known member, sorted by id.
func (t *tracker) all() []Member {
	ms := make([]Member, 0, len(t.members))
	for _, r := range t.members {
		ms = append(ms, r.Member)
	}
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return ms
}

// compute applies the epoch rule to the current member table and returns the
// resulting view, whether it differs from the previous one, and whether the
// local advertisement (epoch, set hash) changed and must be re-gossiped.
//
// The rule: when the live member set differs from the one the current epoch
// numbers, the new epoch is one more than the largest of our epoch and every
// live member's advertised epoch. When the set is unchanged and a live member
// advertises a larger epoch for the same set (equal set hash), adopt it.
func (t *tracker) compute() (v View, changed, advertise bool) {
	members := make([]Member, 0, len(t.members))
	for _, r := range t.members {
		if r.State.Live() {
			members = append(members, r.Member)
		}
	}
	slices.SortFunc(members, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	h := setHash(ids)
	epoch := t.self.Epoch
	if h != t.self.SetHash {
		for _, id := range ids {
			if r := t.members[id]; id != t.local() && r.wire.Epoch > epoch {
				epoch = r.wire.Epoch
			}
		}
		if epoch < maxEpoch {
			epoch++
		}
	} else {
		for _, id := range ids {
			if r := t.members[id]; id != t.local() && r.wire.SetHash == h && r.wire.Epoch > epoch {
				epoch = r.wire.Epoch
			}
		}
	}
	advertise = epoch != t.self.Epoch || h != t.self.SetHash
	t.self.Epoch, t.self.SetHash = epoch, h
	v = View{Epoch: epoch, Hash: h, Members: members, Local: t.local()}
	if v.equal(t.view) {
		return t.view, false, advertise
	}
	t.view = v
	return v, true, advertise
}
