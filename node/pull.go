package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"

	"github.com/nothingshared/ns/cluster"
	"github.com/nothingshared/ns/node/internal/owner"
	"github.com/nothingshared/ns/ring"
)

// pullKind is what a pull is for.
type pullKind uint8

const (
	pullOwner pullKind = iota
	pullReplica
)

type pullKey struct {
	p    int32
	kind pullKind
}

// startPull starts a pull goroutine for k unless one is running.
func (n *Node) startPull(k pullKey, told *ring.Table) {
	n.pullMu.Lock()
	if n.stopping {
		n.pullMu.Unlock()
		return
	}
	if _, running := n.pulling[k]; running {
		// The running loop may be about to give up: make it look again.
		n.pulling[k] = told
		n.pullMu.Unlock()
		return
	}
	n.pulling[k] = nil
	n.pullWG.Add(1)
	n.pullMu.Unlock()
	go func() {
		defer n.pullWG.Done()
		for {
			n.pullLoop(k, told)
			n.pullMu.Lock()
			again, ok := n.pulling[k]
			if !ok || again == nil || n.stopping {
				delete(n.pulling, k)
				n.pullMu.Unlock()
				return
			}
			n.pulling[k] = nil
			told = again
			n.pullMu.Unlock()
		}
	}()
}

// requestSync asks for a backup copy of p to be (re)synchronised from its
// owner. Workers call it: it never blocks.
func (n *Node) requestSync(p int32) {
	select {
	case n.syncCh <- p:
	default:
	}
}

// requestPull asks for an owned partition found without state (fenced while
// the table names this node its owner) to be pulled. Workers call it.
func (n *Node) requestPull(p int32) {
	select {
	case n.pullCh <- p:
	default:
	}
}

// repull asks to pull an owned partition again: a backup refused a write
// the partition's owner sent at epoch (it follows a newer owner).
type repull struct {
	p     int32
	epoch uint64
	at    int64 // when the owner applied the refused write (unix ns)
}

// requestRepull marks an owned partition stale (a backup fenced it at a
// newer epoch: another node owned it meanwhile) and pulls it again, unless
// the refused write is older than the partition's current ownership (a
// replication batch queued before the partition was pulled again).
func (n *Node) requestRepull(p int32, epoch uint64, at int64) {
	select {
	case n.repullCh <- repull{p, epoch, at}:
	default:
	}
}

// syncLoop serves requestSync and requestRepull.
func (n *Node) syncLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-n.syncCh:
			n.startPull(pullKey{p, pullReplica}, nil)
		case p := <-n.pullCh:
			n.startPull(pullKey{p, pullOwner}, nil)
		case r := <-n.repullCh:
			p := r.p
			w := int(p) % n.pool.Size()
			t := n.table.Load()
			var again bool
			ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_ = n.exec(ectx, w, func(s *shard) {
				if ps := s.parts[p]; ps != nil && ps.status == owner.Owned && ps.epoch <= r.epoch && ps.since.UnixNano() <= r.at {
					n.log.Warn("partition was owned elsewhere meanwhile (fenced by a backup); pulling it again", "partition", p)
					// This copy competes with what the pull finds: the
					// newest wins (a backup's fence alone says nothing of
					// whether anyone wrote a newer copy).
					s.parts[p] = &partState{status: owner.Incoming, epoch: t.Epoch(), since: time.Now(), fallback: ps}
					again = true
				}
			})
			cancel()
			if again {
				n.startPull(pullKey{p, pullOwner}, nil)
			}
		}
	}
}

// stillNeeded reports whether pull k is still wanted under the current table.
func (n *Node) stillNeeded(k pullKey, t *ring.Table) bool {
	self := t.MemberIndex(n.cfg.NodeID)
	if self < 0 {
		return false
	}
	if k.kind == pullOwner {
		return t.OwnerIndex(int(k.p)) == self
	}
	if _, ok := n.replicaSources.Load(k.p); ok {
		return true // an owner is replicating to a copy that waits for a snapshot
	}
	return slices.Contains(t.BackupIndexes(int(k.p)), self)
}

// waiting reports whether the partition's worker still waits for the
// state: owner kind, the partition is incoming; replica kind, the copy is
// missing or resynchronising.
func (n *Node) waiting(k pullKey) bool {
	ctx, cancel := context.WithTimeout(n.runCtx, 5*time.Second)
	defer cancel()
	wait := true
	_ = n.exec(ctx, int(k.p)%n.pool.Size(), func(s *shard) {
		if k.kind == pullOwner {
			ps := s.parts[k.p]
			wait = ps != nil && ps.status == owner.Incoming
			return
		}
		rs := s.replicas[k.p]
		wait = rs == nil || rs.syncing
	})
	return wait
}

// pullLoop pulls until the state is installed, the pull is no longer
// needed, or the node stops.
func (n *Node) pullLoop(k pullKey, told *ring.Table) {
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if n.runCtx.Err() != nil {
			return
		}
		t := n.table.Load()
		if !n.stillNeeded(k, t) || !n.waiting(k) {
			return
		}
		done, err := n.pullOnce(k, told, t)
		if done {
			return
		}
		if attempt == 5 || attempt > 0 && attempt%20 == 0 {
			n.log.Warn("partition pull not done yet; retrying", "partition", k.p, "kind", k.kind, "attempt", attempt, "err", err)
		}
		// Jitter: two nodes pulling from each other must not keep colliding.
		d := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-n.runCtx.Done():
			return
		case <-time.After(d):
		}
		if backoff < time.Second {
			backoff *= 2
		}
	}
}

// pullOnce tries every candidate once. It reports done when the state was
// installed (or, owner mode, when no live candidate holds any).
func (n *Node) pullOnce(k pullKey, told, t *ring.Table) (bool, error) {
	n.handoffSem <- struct{}{}
	defer func() { <-n.handoffSem }()
	// What this attempt finds is only as fresh as the lease it began under:
	// a copy installed after a lapse it did not see is verified again.
	gen := n.lease.gen.Load()
	if k.kind == pullOwner {
		defer n.fetching.Delete(k.p)
	}
	p := int(k.p)
	var cands []ring.Member
	mode := nsv1.HandoffMode_HANDOFF_MODE_OWNER
	if k.kind == pullOwner {
		cands = n.pullCandidates(p, told, t)
	} else {
		mode = nsv1.HandoffMode_HANDOFF_MODE_REPLICA
		if v, ok := n.replicaSources.Load(k.p); ok {
			if m, ok := t.Member(v.(string)); ok && m.ID != n.cfg.NodeID {
				cands = append(cands, m)
			}
		}
		if o := t.Owner(p); o.ID != n.cfg.NodeID && (len(cands) == 0 || cands[0].ID != o.ID) {
			cands = append(cands, o)
		}
	}
	// Owner mode also asks every live member gossip knows, not only those
	// of the tables: a node that just joined may build its first tables
	// from part of the cluster (members arrive one event at a time), and a
	// copy it installs under such a table takes the table's epoch: it must
	// be the newest copy anywhere, not only there.
	// With backups, members out of the table that the failure detector
	// declared dead (crashed, paused or cut off) are not asked: they would
	// cost every pull a stalled answer (3 s) while holding a handoff slot,
	// and every write they got acknowledged is on a backup, which is asked.
	// A member in the table, or out of it but not known dead (leaving), is
	// asked.
	dead := map[string]bool{}
	if k.kind == pullOwner {
		seen := map[string]bool{n.cfg.NodeID: true}
		for _, c := range cands {
			seen[c.ID] = true
		}
		for _, m := range n.members.Members() {
			switch {
			case m.State == cluster.StateDead:
				dead[m.ID] = t.BackupCount() > 0
			case m.State.Live() && !seen[m.ID] && m.Meta.GRPCAddr != "":
				seen[m.ID] = true
				cands = append(cands, ring.Member{ID: m.ID, Addr: m.Meta.GRPCAddr, Zone: m.Meta.Zone})
			}
		}
	}
	var errs []error
	blocked := false
	asked := map[string]bool{n.cfg.NodeID: true}
	redirected := map[string]ring.Member{} // target id -> the fenced holder that named it
	notThere := map[string]bool{}          // candidates that answered: not here, no pointer
	var answers []string
	var best *fetched
	var deadHolders []string // previous holders skipped as dead
	for ci := 0; ci < len(cands); ci++ {
		c := cands[ci]
		if asked[c.ID] {
			continue
		}
		asked[c.ID] = true
		if dead[c.ID] && t.MemberIndex(c.ID) < 0 {
			answers = append(answers, c.ID+":dead")
			if heldBy(told, p, c.ID) {
				deadHolders = append(deadHolders, c.ID)
			}
			continue
		}
		start := time.Now()
		if k.kind == pullOwner {
			n.fetching.Store(k.p, true)
		}
		data, found, redirect, err := n.fetch(c, k.p, t.Epoch(), mode, false)
		if holder, ok := redirected[c.ID]; ok && err == nil && !found && redirect.ID == "" {
			// The node the holder handed the partition to does not have it
			// (its pull failed after the fence): take the fenced copy.
			answers = append(answers, fmt.Sprintf("%s:not-there", c.ID))
			c = holder
			data, found, redirect, err = n.fetch(c, k.p, t.Epoch(), mode, true)
		}
		if _, ok := redirected[c.ID]; ok && err != nil && t.MemberIndex(c.ID) >= 0 {
			blocked = true // a live node known to have held it: never give up on it
		}
		answers = append(answers, fmt.Sprintf("%s:found=%v,redirect=%s,err=%v", c.ID, found, redirect.ID, err))
		if err == nil && !found && redirect.ID == "" {
			notThere[c.ID] = true
		}
		if redirect.ID != "" && notThere[redirect.ID] {
			// It was handed to a node that already said it does not have
			// it (its pull failed after the fence): take the fenced copy.
			answers = append(answers, fmt.Sprintf("%s:not-there", redirect.ID))
			data, found, redirect, err = n.fetch(c, k.p, t.Epoch(), mode, true)
			if err != nil {
				blocked = true
			}
		}
		if redirect.ID != "" && redirect.Addr == "" {
			// The holder fenced its copy for a node its table did not
			// have yet: find it.
			redirect.Addr = n.memberAddr(t, redirect.ID)
		}
		if redirect.ID != "" && redirect.Addr != "" && !asked[redirect.ID] {
			// The holder handed the partition on: ask that node next.
			redirected[redirect.ID] = c
			cands = slices.Insert(cands, ci+1, redirect)
		}
		if err != nil {
			n.noteHandoff(true, 0, time.Since(start), err)
			errs = append(errs, fmt.Errorf("%s: %w", c.ID, err))
			var he *holderError
			if t.MemberIndex(c.ID) >= 0 || errors.As(err, &he) {
				// A live member we could not ask may hold the state: retry.
				blocked = true
			}
			continue
		}
		if !found {
			continue
		}
		if k.kind == pullOwner {
			// Owner mode asks every candidate (each fences its copy) and
			// keeps the newest copy: highest ownership epoch, then most
			// writes. The order of the candidates must not decide.
			e, l, ok := peekPartition(data)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: %w", c.ID, errBadSnapshot))
				n.ackFalse(c, k.p)
				blocked = true
				continue
			}
			if best == nil || e > best.epoch || e == best.epoch && l > best.lsn {
				if best != nil {
					n.ackFalse(best.from, k.p)
				}
				best = &fetched{from: c, data: data, epoch: e, lsn: l, start: start}
			} else {
				n.ackFalse(c, k.p)
			}
			continue
		}
		if done, ierr := n.installFetched(k, t, gen, mode, c, data, start, answers); done {
			return true, nil
		} else if ierr != nil {
			errs = append(errs, ierr)
			blocked = true
		}
	}
	if missing := n.awaitingPeers(t); k.kind == pullOwner && len(missing) > 0 {
		// Restarted from the data directory: a member of the previous run
		// that is not back yet may hold a newer copy.
		if best != nil {
			n.ackFalse(best.from, k.p)
		}
		return false, fmt.Errorf("waiting for members of the previous run to come back: %v (answers %v)", missing, answers)
	}
	if best != nil {
		if blocked {
			// A live node we could not ask may hold a newer copy.
			n.ackFalse(best.from, k.p)
			return false, fmt.Errorf("%w (answers %v)", errors.Join(errs...), answers)
		}
		if done, ierr := n.installFetched(k, t, gen, mode, best.from, best.data, best.start, answers); done {
			return true, nil
		} else if ierr != nil {
			return false, ierr
		}
	}
	if k.kind == pullReplica || blocked {
		return false, fmt.Errorf("%w (answers %v)", errors.Join(errs...), answers)
	}
	// No live node holds the partition: it starts empty here (or from this
	// node's own earlier copy), if the table still gives it to this node.
	if !n.stillNeeded(k, n.table.Load()) {
		return true, nil
	}
	if len(deadHolders) > 0 && !n.holdsCopy(k.p) {
		// Its previous owner or backups are unreachable, and this node has
		// no copy of its own: they may be cut off, not crashed, with every
		// write acknowledged so far. Starting empty would lose those writes
		// (a network partition that cut an owner and its backup off
		// together). Wait until one of them answers again; a crashed one
		// answers "not here" once it restarts (or is reaped by gossip).
		return false, fmt.Errorf("waiting for the partition's previous holders %v, unreachable, before it starts without their copies (answers %v)", deadHolders, answers)
	}
	if err := n.install(k, n.ownershipEpoch(t), gen, nil); err != nil {
		return false, err
	}
	if len(cands) > 0 {
		n.log.Warn("no live copy of partition found; it starts empty", "partition", k.p, "epoch", t.Epoch(), "answers", answers)
	}
	return true, nil
}

// heldBy reports whether member id owned or backed up partition p in table
// t (nil or epoch 0: no).
func heldBy(t *ring.Table, p int, id string) bool {
	if t == nil || t.Epoch() == 0 {
		return false
	}
	if t.Owner(p).ID == id {
		return true
	}
	for _, b := range t.BackupsOf(p) {
		if b.ID == id {
			return true
		}
	}
	return false
}

// holdsCopy reports whether this node holds data of partition p it could
// start from: a copy it owned (the fallback of a pull) or a backup copy.
func (n *Node) holdsCopy(p int32) bool {
	ctx, cancel := context.WithTimeout(n.runCtx, 5*time.Second)
	defer cancel()
	held := true // unknown: do not wait on it
	_ = n.exec(ctx, int(p)%n.pool.Size(), func(s *shard) {
		ps, rs := s.parts[p], s.replicas[p]
		held = ps != nil && ps.fallback != nil && ps.fallback.svcs != nil || rs != nil && rs.svcs != nil
	})
	return held
}

// memberAddr is the gRPC address of member id, from table t or gossip; ""
// when neither knows it.
func (n *Node) memberAddr(t *ring.Table, id string) string {
	if m, ok := t.Member(id); ok && m.Addr != "" {
		return m.Addr
	}
	for _, m := range n.members.Members() {
		if m.ID == id && m.State.Live() {
			return m.Meta.GRPCAddr
		}
	}
	return ""
}
