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

// pullAgain is a running pull's mark: again asks its loop, about to end,
// to look once more (with told as the previous table, nil for none).
type pullAgain struct {
	again bool
	told  *ring.Table
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
		// Found by make soak (seed 1796678799204286712): a request without
		// a previous table (told nil: a backup's refusal, a replica
		// resync) was stored as nil, which read as "no look again", and a
		// loop that had just installed the partition exited while the
		// request had made it incoming again: incoming for good, and no
		// pull running.
		n.pulling[k] = pullAgain{again: true, told: told}
		n.pullMu.Unlock()
		return
	}
	n.pulling[k] = pullAgain{}
	n.pullWG.Add(1)
	n.pullMu.Unlock()
	go func() {
		defer n.pullWG.Done()
		for {
			n.pullLoop(k, told)
			n.pullMu.Lock()
			st, ok := n.pulling[k]
			if !ok || !st.again || n.stopping {
				delete(n.pulling, k)
				n.pullMu.Unlock()
				return
			}
			n.pulling[k] = pullAgain{}
			told = st.told
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
				// Only a partition the current table gives this node: one it
				// moved elsewhere is the plan's (owner.PlanAway). Made
				// incoming here, its pull would end at once (not needed)
				// and leave it incoming for good, the node never ready
				// (make soak seed 1796678799204286712).
				if ps := s.parts[p]; ps != nil && ps.status == owner.Owned && ps.epoch <= r.epoch && ps.since.UnixNano() <= r.at &&
					t.Owner(int(p)).ID == n.cfg.NodeID {
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

// stillNeeded reports whether pull k is still wanted under the current table;
// source is the owner replicating to the copy (waitState.source), if any.
func (n *Node) stillNeeded(k pullKey, t *ring.Table, source string) bool {
	self := t.MemberIndex(n.cfg.NodeID)
	if self < 0 {
		return false
	}
	if k.kind == pullOwner {
		return t.OwnerIndex(int(k.p)) == self
	}
	if source != "" {
		return true // an owner is replicating to a copy that waits for a snapshot
	}
	return slices.Contains(t.BackupIndexes(int(k.p)), self)
}

// setFetching marks an incoming partition as being pulled right now (or
// no longer), on its worker.
func (n *Node) setFetching(p int32, on bool) {
	ctx, cancel := context.WithTimeout(n.runCtx, 5*time.Second)
	defer cancel()
	_ = n.exec(ctx, int(p)%n.pool.Size(), func(s *shard) {
		if ps := s.parts[p]; ps != nil && (ps.status == owner.Incoming || !on) {
			ps.fetching = on
		}
	})
}

// waitState is what a pull needs to know of its partition's worker.
type waitState struct {
	// wait: the worker still waits for the state: owner kind, the
	// partition is incoming; replica kind, the copy is missing or
	// resynchronising.
	wait bool
	// source (replica kind): the owner replicating to a copy that waits
	// for a snapshot, if any.
	source string
	// fence (replica kind): the epoch this node's copy is fenced at.
	fence uint64
	// own (owner kind): this node's own newest copy, if hasOwn, and the
	// epoch it covers (owner.PullPlan.OwnCovers).
	own       owner.Version
	hasOwn    bool
	ownCovers uint64
}

// waiting reads the partition's waitState on its worker.
func (n *Node) waiting(k pullKey) waitState {
	ctx, cancel := context.WithTimeout(n.runCtx, 5*time.Second)
	defer cancel()
	ws := waitState{wait: true}
	_ = n.exec(ctx, int(k.p)%n.pool.Size(), func(s *shard) {
		if k.kind == pullReplica {
			rs := s.replicas[k.p]
			ws.wait = rs == nil || rs.syncing
			if rs != nil {
				ws.source, ws.fence = rs.source, rs.fence
			}
			return
		}
		ps, rs := s.parts[k.p], s.replicas[k.p]
		ws.wait = ps != nil && ps.status == owner.Incoming
		if !ws.wait {
			return
		}
		if fb := ps.fallback; fb != nil && fb.svcs != nil && !fb.fromReplica {
			ws.own, ws.hasOwn, ws.ownCovers = owner.Version{Epoch: fb.epoch, LSN: fb.lsn}, true, fb.servedAt
		}
		if rs != nil && rs.svcs != nil {
			if v := (owner.Version{Epoch: rs.epoch, LSN: rs.lsn}); !ws.hasOwn || v.Newer(ws.own) {
				ws.own, ws.hasOwn, ws.ownCovers = v, true, rs.syncedAt
			}
		}
	})
	return ws
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
		ws := n.waiting(k)
		if !ws.wait || !n.stillNeeded(k, t, ws.source) {
			return
		}
		done, err := n.pullOnce(k, told, t, ws)
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

// pullOnce makes one pull attempt (owner.Pull decides; pullFetcher does
// the I/O). It reports done when the state was installed (or, owner mode,
// when no live candidate holds any and the partition started here).
func (n *Node) pullOnce(k pullKey, told, t *ring.Table, ws waitState) (bool, error) {
	n.handoffSem <- struct{}{}
	defer func() { <-n.handoffSem }()
	// What this attempt finds is only as fresh as the lease it began under:
	// a copy installed after a lapse it did not see is verified again.
	gen := n.lease.gen.Load()
	if k.kind == pullOwner {
		// Holders asked meanwhile answer "arriving" (owner.Hand): its
		// state may be on its way here.
		n.setFetching(k.p, true)
		defer n.setFetching(k.p, false)
	}
	pp := n.pullPlan(k, told, t, ws)
	f := &pullFetcher{n: n, k: k, t: t, gen: gen, mode: nsv1.HandoffMode_HANDOFF_MODE_OWNER, got: map[string]*fetched{}}
	if k.kind == pullReplica {
		f.mode = nsv1.HandoffMode_HANDOFF_MODE_REPLICA
		f.fence = ws.fence
	}
	// Copies fetched and neither installed nor released when the attempt
	// ends are released: their holders keep them, fenced.
	defer f.releaseAll()
	res := owner.Pull(pp, f)
	if k.kind == pullOwner && (res.Outcome == owner.InstallBest || res.Outcome == owner.NoCopy) &&
		owner.PullAgain(n.ownershipEpoch(t) == 0, n.ownershipEpoch(n.table.Load()) > 0) {
		if res.Outcome == owner.InstallBest {
			f.Release(res.Best)
		}
		return false, fmt.Errorf("pull began under a table without quorum (epoch %d) and quorum is back: pulling again under the current table", t.Epoch())
	}
	switch res.Outcome {
	case owner.Installed:
		return true, nil
	case owner.InstallBest:
		return f.install(res.Best, res.Answers)
	case owner.Retry:
		return false, res.Err
	}
	// No live node holds the partition (owner.NoCopy): it starts here if it
	// is still ours.
	if !n.stillNeeded(k, n.table.Load(), "") {
		return true, nil
	}
	if err := n.install(k, n.ownershipEpoch(t), gen, nil); err != nil {
		return false, err
	}
	if len(pp.Candidates) > 0 {
		n.log.Warn("no live copy of partition found; it starts empty", "partition", k.p, "epoch", t.Epoch(), "answers", res.Answers)
	}
	return true, nil
}

// pullPlan lists whom a pull of k asks, in order, and what it knows of
// them.
func (n *Node) pullPlan(k pullKey, told, t *ring.Table, ws waitState) owner.PullPlan {
	p := int(k.p)
	var cands []ring.Member
	if k.kind == pullOwner {
		cands = n.pullCandidates(p, told, t)
	} else {
		if m, ok := t.Member(ws.source); ok && ws.source != "" && m.ID != n.cfg.NodeID {
			cands = append(cands, m)
		}
		if o := t.Owner(p); o.ID != n.cfg.NodeID && (len(cands) == 0 || cands[0].ID != o.ID) {
			cands = append(cands, o)
		}
	}
	pp := owner.PullPlan{
		Self:    n.cfg.NodeID,
		InTable: func(id string) bool { return t.MemberIndex(id) >= 0 },
		Dead:    map[string]bool{},
		Kind:    owner.OwnerPull,
	}
	if k.kind == pullReplica {
		pp.Kind = owner.ReplicaPull
	}
	// Owner mode also asks every live member gossip knows, not only those
	// of the tables: a node that just joined may build its first tables
	// from part of the cluster (members arrive one event at a time), and a
	// copy it installs under such a table takes the table's epoch: it must
	// be the newest copy anywhere, not only there.
	// With backups, members out of the table that the failure detector
	// declared dead (crashed, paused or cut off) get a short time to
	// answer and are skipped when they do not (owner.PullPlan.Dead,
	// deadAnswerTimeout): a stalled answer (3 s) from each would hold a
	// handoff slot per pull, and every write they got acknowledged is on a
	// backup, which is asked. A member in the table, or out of it but not
	// known dead (leaving), is asked and waited for.
	if k.kind == pullOwner {
		seen := map[string]bool{n.cfg.NodeID: true}
		for _, c := range cands {
			seen[c.ID] = true
		}
		for _, m := range n.members.Members() {
			switch {
			case m.State == cluster.StateDead:
				pp.Dead[m.ID] = t.BackupCount() > 0
				// With backups, a dead member is asked too (briefly), so
				// that when it does not answer it counts as skipped: a
				// holder of a table in the partition's history that was
				// skipped makes the pull wait rather than start the
				// partition empty (owner.PullPlan.History). Found by make
				// soak: a node whose tables had left both holders out
				// never asked them, found no copy and started empty (the
				// lease-back-under-minority-table scenario).
				if t.BackupCount() > 0 && !seen[m.ID] && m.Meta.GRPCAddr != "" {
					seen[m.ID] = true
					cands = append(cands, ring.Member{ID: m.ID, Addr: m.Meta.GRPCAddr, Zone: m.Meta.Zone})
				}
			case m.State.Live() && !seen[m.ID] && m.Meta.GRPCAddr != "":
				seen[m.ID] = true
				cands = append(cands, ring.Member{ID: m.ID, Addr: m.Meta.GRPCAddr, Zone: m.Meta.Zone})
			}
		}
		pp.Awaiting = n.awaitingPeers(t)
		pp.History = n.hist.holdings(p)
		pp.Own, pp.HasOwn, pp.OwnCovers = ws.own, ws.hasOwn, ws.ownCovers
	}
	for _, c := range cands {
		pp.Candidates = append(pp.Candidates, owner.Member{ID: c.ID, Addr: c.Addr})
	}
	return pp
}

// pullFetcher is owner.Pull's I/O for one attempt: it fetches over the
// Handoff stream, keeps what it fetched until it is installed or released,
// and acknowledges holders.
type pullFetcher struct {
	n     *Node
	k     pullKey
	t     *ring.Table
	gen   uint64
	mode  nsv1.HandoffMode
	fence uint64              // replica pulls: the epoch this node's copy is fenced at
	got   map[string]*fetched // fetched copies not yet installed or released, by holder
}

var _ owner.Fetcher = (*pullFetcher)(nil)

func (f *pullFetcher) Fetch(m owner.Member, takeFenced bool) owner.Reply {
	start := time.Now()
	rm := ring.Member{ID: m.ID, Addr: m.Addr}
	var meta fetchMeta
	data, found, redirect, held, err := f.n.fetch(rm, f.k.p, fetchReq{epoch: f.t.Epoch(), mode: f.mode, takeFenced: takeFenced, dead: m.Dead, fence: f.fence}, &meta)
	r := owner.Reply{Found: found, Redirect: owner.Member{ID: redirect.ID, Addr: redirect.Addr}, Err: err, History: meta.history, Covers: meta.covers}
	if err != nil {
		var he *holderError
		r.FromHolder = errors.As(err, &he)
		f.n.noteHandoff(true, 0, time.Since(start), err)
	}
	if found {
		e, l, ok := peekPartition(data)
		r.Version, r.Valid = owner.Version{Epoch: e, LSN: l}, ok
		if old := f.got[m.ID]; old != nil {
			_ = old.held.ack(false) // asked again: the newer answer replaces it
		}
		f.got[m.ID] = &fetched{from: rm, held: held, data: data, epoch: e, lsn: l, start: start}
	}
	return r
}

func (f *pullFetcher) Release(m owner.Member) {
	if fe := f.got[m.ID]; fe != nil {
		delete(f.got, m.ID)
		_ = fe.held.ack(false)
	}
}

// releaseAll releases every copy still held.
func (f *pullFetcher) releaseAll() {
	for id, fe := range f.got {
		delete(f.got, id)
		_ = fe.held.ack(false)
	}
}

func (f *pullFetcher) Install(m owner.Member) (bool, error) { return f.install(m, nil) }

// install installs the copy fetched from m; answers are logged with it.
func (f *pullFetcher) install(m owner.Member, answers []string) (bool, error) {
	fe := f.got[m.ID]
	delete(f.got, m.ID)
	return f.n.installFetched(f.k, f.t, f.gen, f.mode, fe, answers)
}

func (f *pullFetcher) Resolve(id string) string { return f.n.memberAddr(f.t, id) }

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
