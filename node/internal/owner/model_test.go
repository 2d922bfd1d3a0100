package owner

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The model: a cluster of nodes holding one partition, driven by the
// package's rules exactly as node/ drives them (plan.go, pull.go, holder.go,
// install.go, dispatch.go and replicate.go there), with the network, the
// failure detector, the lease and the client in the test's hands. A write
// is a string appended to the partition's value; its copies are compared by
// what they hold.

// mtable is one node's partition table, cut down to one partition.
type mtable struct {
	epoch    uint64
	owner    string
	backups  []string
	members  []string
	minority bool // planned without quorum
}

func (t *mtable) has(id string) bool { return t != nil && slices.Contains(t.members, id) }

func (t *mtable) held(id string) bool {
	return t != nil && t.epoch > 0 && (t.owner == id || slices.Contains(t.backups, id))
}

// mcopy is an owned (or fenced) copy.
type mcopy struct {
	status      Status
	ver         Version
	fence       uint64
	movedTo     string
	dormant     bool
	gen         int // lease generation it was verified under
	data        []string
	hasData     bool
	fallback    *mcopy
	fromReplica bool
	served      uint64 // the last table epoch it served under (Reply.Covers)
}

// mreplica is a backup copy.
type mreplica struct {
	ver     Version
	fence   uint64
	syncing bool
	orphan  bool
	data    []string
	hasData bool
	synced  uint64 // the last table epoch it followed its owner in sync under
}

type mnode struct {
	id       string
	told, t  *mtable
	part     *mcopy
	rep      *mreplica
	paused   bool
	quorum   bool
	gen      int  // lease generation
	lease    bool // the lease holds
	pull     map[Kind]bool
	fetching bool
	hist     []Holding // tables seen, oldest first
	// held: an owner pull that found its copy under table heldAt and has
	// not installed it yet (pull ... hold; install at=...).
	held   *mcopy
	heldAt *mtable
}

type model struct {
	nodes map[string]*mnode
	order []string
	group map[string]int // network side of each node; equal sides reach each other
	acked []string       // acknowledged writes, in order
	out   strings.Builder
}

func newModel(ids ...string) *model {
	m := &model{nodes: map[string]*mnode{}, group: map[string]int{}}
	for _, id := range ids {
		m.nodes[id] = &mnode{id: id, quorum: true, lease: true, pull: map[Kind]bool{}}
		m.order = append(m.order, id)
	}
	return m
}

func (m *model) printf(format string, args ...any) { fmt.Fprintf(&m.out, format, args...) }

// reach reports whether a can talk to b now.
func (m *model) reach(a, b string) bool {
	nb := m.nodes[b]
	return nb != nil && !nb.paused && !m.nodes[a].paused && m.group[a] == m.group[b]
}

// setTable gives node id table t and plans, as node.plan does.
func (m *model) setTable(id string, t *mtable, gap bool) {
	n := m.nodes[id]
	n.told, n.t = n.t, t
	n.hist = append(n.hist, Holding{Epoch: t.epoch, Holders: append([]string{t.owner}, t.backups...)})
	var toldEpoch uint64
	raise := n.quorum && !t.minority
	if n.told != nil {
		toldEpoch = n.told.epoch
		for _, mem := range n.told.members {
			if !t.has(mem) {
				raise = false
			}
		}
	}
	tt := Tables{Continuous: ContinuousTables(toldEpoch, t.epoch, gap || n.told != nil && n.told.minority), Raise: raise}
	if t.owner == id {
		h := Held{WasOwner: n.told != nil && n.told.owner == id, Replica: n.rep != nil && n.rep.hasData}
		if ps := n.part; ps != nil {
			h.Status, h.Dormant, h.Verified, h.HasData = ps.status, ps.dormant, ps.gen == n.gen, ps.hasData
		}
		h.NoOtherHolder = len(m.candidates(n)) == 0
		a := PlanOwned(tt, h)
		switch a {
		case Keep:
			if raise {
				n.part.ver.Epoch = max(n.part.ver.Epoch, t.epoch)
			}
			if n.quorum && !t.minority {
				n.part.served = t.epoch
			}
		case Reverify:
			n.part = &mcopy{status: Incoming, fallback: n.part}
			n.pull[OwnerPull] = true
		case ContinuePull:
			n.pull[OwnerPull] = true
		case StartEmpty:
			n.part = &mcopy{status: Owned, ver: Version{Epoch: t.epoch}, gen: n.gen, hasData: true, served: t.epoch}
		case StartPull:
			nps := &mcopy{status: Incoming}
			if ps := n.part; ps != nil && ps.status == Fenced && ps.hasData {
				nps.fallback = ps
			}
			if nps.fallback == nil && h.Replica {
				nps.fallback = &mcopy{ver: n.rep.ver, data: n.rep.data, hasData: true, fromReplica: true}
			}
			n.part = nps
			n.pull[OwnerPull] = true
		}
		m.printf("%s: %s\n", id, a)
		return
	}
	if n.part != nil {
		switch a := PlanAway(n.part.status); a {
		case MarkDormant:
			n.part.dormant = true
			m.printf("%s: dormant\n", id)
		case Abandon:
			delete(n.pull, OwnerPull)
			if fb := n.part.fallback; fb != nil {
				fb.dormant = true
				if fb.status != Fenced {
					fb.status = Owned
				}
				n.part = fb
			} else {
				n.part = nil
			}
			m.printf("%s: abandon\n", id)
		}
	}
	if !slices.Contains(t.backups, id) {
		if n.rep != nil {
			n.rep.orphan = true
		}
		return
	}
	b := Backup{Exists: n.rep != nil, OwnerChanged: n.told == nil || n.told.owner != t.owner}
	if n.rep != nil {
		b.Syncing, b.Orphaned = n.rep.syncing, n.rep.orphan
	} else {
		n.rep = &mreplica{}
	}
	n.rep.syncing = Resync(tt, b)
	n.rep.orphan = false
	if !n.rep.syncing && n.quorum && !t.minority {
		n.rep.synced = t.epoch
	}
	if n.rep.syncing {
		n.pull[ReplicaPull] = true
		m.printf("%s: resync\n", id)
	}
}

// candidates is node.pullCandidates: previous owner and backups, current
// backups, then every member of both tables.
func (m *model) candidates(n *mnode) []Member {
	var out []Member
	seen := map[string]bool{n.id: true}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			out = append(out, Member{ID: id, Addr: id})
		}
	}
	if n.told != nil && n.told.epoch > 0 {
		add(n.told.owner)
		for _, b := range n.told.backups {
			add(b)
		}
	}
	for _, b := range n.t.backups {
		add(b)
	}
	for _, mem := range n.t.members {
		add(mem)
	}
	if n.told != nil && n.told.epoch > 0 {
		for _, mem := range n.told.members {
			add(mem)
		}
	}
	return out
}

// fetcher is the model's Fetcher: a holder answers by Hand (owner pulls) or
// from its served copy (replica pulls), when the network lets it.
type fetcher struct {
	m    *model
	n    *mnode
	kind Kind
	got  map[string]*mcopy
}

func (f *fetcher) Fetch(mem Member, takeFenced bool) Reply {
	h := f.m.nodes[mem.ID]
	if h == nil || !f.m.reach(f.n.id, mem.ID) {
		return Reply{Err: fmt.Errorf("unreachable")}
	}
	r := f.fetch(h, mem, takeFenced)
	r.History = h.hist
	return r
}

func (f *fetcher) fetch(h *mnode, mem Member, takeFenced bool) Reply {
	if f.kind == ReplicaPull {
		ps := h.part
		if ps == nil || ps.status != Owned {
			return Reply{}
		}
		if !h.lease || ps.dormant || ps.gen != h.gen {
			return Reply{Err: fmt.Errorf("verifying"), FromHolder: true}
		}
		f.got[mem.ID] = &mcopy{ver: ps.ver, data: slices.Clone(ps.data), hasData: true}
		return Reply{Found: true, Version: ps.ver, Valid: true}
	}
	a := Ask{From: f.n.id, Epoch: f.n.t.epoch, TakeFenced: takeFenced}
	hd := Holder{TableOwnsHere: h.t != nil && h.t.owner == h.id && h.t.epoch >= a.Epoch, Fetching: h.fetching}
	if ps := h.part; ps != nil {
		hd.Status, hd.Owned, hd.HasData, hd.MovedTo = ps.status, ps.ver, ps.hasData, ps.movedTo
	}
	if rs := h.rep; rs != nil && rs.hasData {
		hd.Replica, hd.ReplicaVer = true, rs.ver
	}
	switch Hand(hd, a) {
	case RefuseOwner, RefuseStale, Arriving:
		return Reply{Err: fmt.Errorf("%s", Hand(hd, a)), FromHolder: true}
	case Redirect:
		return Reply{Redirect: Member{ID: h.part.movedTo, Addr: h.part.movedTo}}
	case HandOwned:
		ps := h.part
		ps.status, ps.fence, ps.movedTo = Fenced, max(ps.fence, a.Epoch), a.From
		if hd.Replica {
			h.rep.fence = max(h.rep.fence, a.Epoch)
		}
		f.got[mem.ID] = &mcopy{ver: ps.ver, data: slices.Clone(ps.data), hasData: true}
		return Reply{Found: true, Version: ps.ver, Valid: true, Covers: ps.served}
	case HandReplica:
		rs := h.rep
		rs.fence = max(rs.fence, a.Epoch)
		if ps := h.part; ps != nil && ps.status == Owned {
			ps.status, ps.hasData, ps.data, ps.movedTo = Fenced, false, nil, a.From
		}
		f.got[mem.ID] = &mcopy{ver: rs.ver, data: slices.Clone(rs.data), hasData: true}
		return Reply{Found: true, Version: rs.ver, Valid: true, Covers: rs.synced}
	}
	return Reply{}
}

func (f *fetcher) Release(mem Member) { delete(f.got, mem.ID) }

func (f *fetcher) Install(mem Member) (bool, error) {
	c := f.got[mem.ID]
	rs := f.n.rep
	if rs == nil {
		rs = &mreplica{}
		f.n.rep = rs
	}
	if c.ver.Epoch < rs.fence {
		return false, fmt.Errorf("snapshot from epoch %d, copy fenced at %d", c.ver.Epoch, rs.fence)
	}
	rs.ver, rs.data, rs.hasData, rs.syncing = c.ver, c.data, true, false
	if slices.Contains(f.n.t.backups, f.n.id) && !f.n.t.minority {
		rs.synced = f.n.t.epoch
	}
	return true, nil
}

func (f *fetcher) Resolve(id string) string {
	if f.n.t.has(id) {
		return id
	}
	return ""
}

// runPull makes one pull attempt of kind on node id, as node.pullOnce does.
func (m *model) runPull(id string, kind Kind, dead []string, lose, hold bool) {
	n := m.nodes[id]
	if n.paused || !n.pull[kind] {
		m.printf("%s: no %s pull pending\n", id, kind)
		return
	}
	if kind == ReplicaPull && !slices.Contains(n.t.backups, id) {
		// node.stillNeeded: no longer a backup.
		delete(n.pull, kind)
		m.printf("%s: replica pull no longer needed\n", id)
		return
	}
	pp := PullPlan{Kind: kind, Self: id, InTable: n.t.has, Dead: map[string]bool{}}
	if kind == OwnerPull {
		pp.History = n.hist
		if fb := n.part.fallback; fb != nil && fb.hasData && !fb.fromReplica {
			pp.Own, pp.HasOwn, pp.OwnCovers = fb.ver, true, fb.served
		}
		if rs := n.rep; rs != nil && rs.hasData && (!pp.HasOwn || rs.ver.Newer(pp.Own)) {
			pp.Own, pp.HasOwn, pp.OwnCovers = rs.ver, true, rs.synced
		}
		// Tables first, then every other member gossip knows.
		pp.Candidates = m.candidates(n)
		for _, o := range m.order {
			if o != id && !slices.ContainsFunc(pp.Candidates, func(c Member) bool { return c.ID == o }) {
				pp.Candidates = append(pp.Candidates, Member{ID: o, Addr: o})
			}
		}
		for _, d := range dead {
			pp.Dead[d] = true
		}
	} else if n.t.owner != id {
		pp.Candidates = []Member{{ID: n.t.owner, Addr: n.t.owner}}
	}
	f := &fetcher{m: m, n: n, kind: kind, got: map[string]*mcopy{}}
	n.fetching = kind == OwnerPull
	res := Pull(pp, f)
	// node.pullOnce clears its fetching mark when the attempt ends, after
	// the install: a held copy keeps it (holders asked meanwhile answer
	// "arriving").
	n.fetching = hold && res.Outcome == InstallBest
	m.printf("%s: %s pull: %s %s\n", id, kind, res.Outcome, strings.Join(res.Answers, " "))
	switch res.Outcome {
	case Retry:
		why, _, _ := strings.Cut(res.Err.Error(), " (answers")
		m.printf("%s: retry: %s\n", id, why)
	case Installed:
		delete(n.pull, kind)
	case InstallBest:
		if lose {
			// The puller fails between the fetch and the install (its
			// stream broke, or it crashed): the holder keeps its copy,
			// fenced for this node.
			m.printf("%s: lost before the install\n", id)
			return
		}
		if hold {
			// The install is still to come (node: the pull's install call
			// runs later, under whatever table is current by then).
			n.held, n.heldAt = f.got[res.Best.ID], n.t
			m.printf("%s: holding the copy for install\n", id)
			return
		}
		m.install(n, f.got[res.Best.ID], n.t)
	case NoCopy:
		// node.pullOnce: the partition starts here if it is still ours.
		if n.t.owner != id {
			m.printf("%s: no copy: drop\n", id)
			delete(n.pull, kind)
			break
		}
		m.printf("%s: no copy: begin\n", id)
		m.install(n, nil, n.t)
	}
}

// installHeld installs the copy a held pull found, under the table current
// now.
func (m *model) installHeld(id string) {
	n := m.nodes[id]
	if n.held == nil {
		m.printf("%s: no copy held\n", id)
		return
	}
	pulled, t := n.held, n.heldAt
	n.held, n.heldAt, n.fetching = nil, nil, false
	if PullAgain(t.minority, !n.t.minority) {
		// node.pullOnce: the copy stays with its holder, fenced; the pull
		// starts again under the current table.
		m.printf("%s: began under a minority table, quorum is back: pull again\n", id)
		return
	}
	m.install(n, pulled, t)
}

// install is node.installOwned; from is the table the pull began under
// (the ownership epoch it installs at), n.t the one current now.
func (m *model) install(n *mnode, pulled *mcopy, from *mtable) {
	delete(n.pull, OwnerPull)
	ps := n.part
	if ps == nil || ps.status != Incoming {
		ps = &mcopy{status: Incoming, dormant: true}
		n.part = ps
	}
	c := Copies{HavePulled: pulled != nil}
	if pulled != nil {
		c.Pulled = pulled.ver
	}
	fb, rs := ps.fallback, n.rep
	if c.HasFallback = fb != nil && fb.hasData; c.HasFallback {
		c.Fallback = fb.ver
	}
	if c.HasReplica = rs != nil && rs.hasData; c.HasReplica {
		c.Replica = rs.ver
	}
	d := &mcopy{}
	if pulled != nil {
		d = pulled
	}
	ch := Choose(c)
	switch {
	case ch == Fallback && !fb.fromReplica:
		d = fb
	case ch == OwnReplica, ch == Fallback && c.HasReplica:
		d = &mcopy{ver: rs.ver, data: rs.data}
		n.rep = nil
	case ch == Fallback:
		d = fb
	}
	epoch := from.epoch
	if from.minority {
		epoch = 0
	}
	// The copy serves under the table current now, if it names this node
	// the owner (node.installOwned).
	served := epoch
	if n.t.owner == n.id && !n.t.minority {
		served = max(served, n.t.epoch)
	}
	*ps = mcopy{status: Owned, gen: n.gen, ver: Version{Epoch: max(epoch, d.ver.Epoch), LSN: d.ver.LSN}, data: slices.Clone(d.data), hasData: true, dormant: ps.dormant, served: served}
	what := ch.String()
	if ch == Pulled && pulled == nil {
		what = "empty"
	}
	m.printf("%s: installed %s (%s) at %s\n", n.id, what, strings.Join(ps.data, ","), ps.ver)
}

// serve is node's handler.process up to the apply: it reports whether the
// item may be applied now, or why not.
func (m *model) serve(n *mnode) (bool, string) {
	it := Item{Ours: n.t != nil && n.t.owner == n.id, Quorum: n.quorum}
	if ps := n.part; ps != nil {
		it.Status, it.HasData, it.Dormant = ps.status, ps.hasData, ps.dormant
		it.Lease, it.Verified = n.lease, ps.gen == n.gen
	}
	a := Serve(it)
	switch a {
	case PullBack, Verify:
		nps := &mcopy{status: Incoming}
		if n.part.hasData || n.part.status == Owned {
			nps.fallback = n.part
		}
		n.part = nps
		n.pull[OwnerPull] = true
	case AwaitPlan:
		n.part = &mcopy{status: Incoming}
	}
	return a == Apply, a.String()
}

// verify is what node id does when its lease is back (node's replan on
// lease.onBack): an owned copy not verified under the current lease
// generation becomes the fallback of an owner pull, as serve's Verify
// does for an item.
func (m *model) verify(id string) {
	n := m.nodes[id]
	if ps := n.part; ps != nil && ps.status == Owned && ps.gen != n.gen {
		n.part = &mcopy{status: Incoming, fallback: ps}
		n.pull[OwnerPull] = true
		m.printf("%s: verify\n", id)
	}
}

// write sends a client write to node id: applied at the owner, replicated
// to every backup its table names, acknowledged once all of them applied it.
func (m *model) write(id, w string) {
	n := m.nodes[id]
	if n.paused {
		m.printf("%s: %s: no answer (paused)\n", id, w)
		return
	}
	ok, why := m.serve(n)
	if !ok {
		m.printf("%s: %s: not applied: %s\n", id, w, why)
		return
	}
	if !n.quorum {
		m.printf("%s: %s: not applied: minority\n", id, w)
		return
	}
	ps := n.part
	ps.ver.LSN++
	ps.data = append(ps.data, w)
	acked := true
	var why2 []string
	for _, b := range n.t.backups {
		if !m.reach(id, b) {
			acked = false
			why2 = append(why2, b+":unreachable")
			continue
		}
		if err := m.replicate(n, m.nodes[b], w); err != "" {
			acked = false
			why2 = append(why2, b+":"+err)
		}
	}
	if !acked {
		m.printf("%s: %s: applied at %s, not acknowledged: %s\n", id, w, ps.ver, strings.Join(why2, " "))
		return
	}
	m.acked = append(m.acked, w)
	m.printf("%s: %s: acknowledged at %s\n", id, w, ps.ver)
}

// replicate is node's applyReplica for one write; "" means applied.
func (m *model) replicate(o, b *mnode, w string) string {
	ver := o.part.ver
	if ps := b.part; ps != nil {
		switch OnReplicated(ps.status, ps.ver.Epoch, b.t != nil && b.t.owner == o.id, ver.Epoch) {
		case RefuseOwnerHere:
			return "refused(owner-here)"
		case FenceOwned:
			ps.status, ps.hasData, ps.data, ps.movedTo = Fenced, false, nil, o.id
		}
	}
	rs := b.rep
	if rs == nil {
		rs = &mreplica{syncing: true}
		b.rep = rs
	}
	if RefuseReplicated(rs.ver.Epoch, rs.fence, ver.Epoch) {
		return "refused(fenced)"
	}
	if rs.syncing || ver.LSN > rs.ver.LSN+1 {
		rs.syncing = true
		b.pull[ReplicaPull] = true
		return "syncing"
	}
	rs.ver.Epoch = max(rs.ver.Epoch, ver.Epoch)
	if ver.LSN > rs.ver.LSN {
		rs.data = append(slices.Clone(rs.data), w)
		rs.ver.LSN = ver.LSN
		rs.hasData = true
	}
	return ""
}

// read reads the partition at node id.
func (m *model) read(id string) {
	n := m.nodes[id]
	if n.paused {
		m.printf("%s: read: no answer (paused)\n", id)
		return
	}
	if ok, why := m.serve(n); !ok {
		m.printf("%s: read: not served: %s\n", id, why)
		return
	}
	m.printf("%s: read: %s\n", id, strings.Join(n.part.data, ","))
}

// newest is the newest copy anywhere (owned, fenced with data, or backup),
// and who holds it.
func (m *model) newest() (Version, []string, string) {
	var best Version
	var data []string
	who := ""
	for _, id := range m.order {
		n := m.nodes[id]
		if ps := n.part; ps != nil && ps.hasData && (who == "" || ps.ver.Newer(best)) {
			best, data, who = ps.ver, ps.data, id
		}
		if ps := n.part; ps != nil && ps.fallback != nil && ps.fallback.hasData && (who == "" || ps.fallback.ver.Newer(best)) {
			best, data, who = ps.fallback.ver, ps.fallback.data, id+"(fallback)"
		}
		if rs := n.rep; rs != nil && rs.hasData && (who == "" || rs.ver.Newer(best)) {
			best, data, who = rs.ver, rs.data, id+"(backup)"
		}
	}
	return best, data, who
}

// lost lists the acknowledged writes the newest copy does not hold.
func (m *model) lost() []string {
	_, data, _ := m.newest()
	var out []string
	for _, w := range m.acked {
		if !slices.Contains(data, w) {
			out = append(out, w)
		}
	}
	return out
}

func (m *model) state() string {
	var b strings.Builder
	for _, id := range m.order {
		n := m.nodes[id]
		fmt.Fprintf(&b, "%s:", id)
		if n.paused {
			b.WriteString(" paused")
		}
		if n.t != nil {
			fmt.Fprintf(&b, " table=%d", n.t.epoch)
		}
		if ps := n.part; ps != nil {
			fmt.Fprintf(&b, " %s@%s", ps.status, ps.ver)
			if ps.dormant {
				b.WriteString(",dormant")
			}
			if ps.status == Fenced {
				fmt.Fprintf(&b, ",to=%s", ps.movedTo)
			}
			if ps.hasData {
				fmt.Fprintf(&b, "[%s]", strings.Join(ps.data, ","))
			}
		}
		if rs := n.rep; rs != nil {
			fmt.Fprintf(&b, " backup@%s", rs.ver)
			if rs.syncing {
				b.WriteString(",syncing")
			}
			if rs.hasData {
				fmt.Fprintf(&b, "[%s]", strings.Join(rs.data, ","))
			}
		}
		var pulls []string
		for k := range n.pull {
			pulls = append(pulls, k.String())
		}
		sort.Strings(pulls)
		if len(pulls) > 0 {
			fmt.Fprintf(&b, " pulling=%s", strings.Join(pulls, ","))
		}
		b.WriteString("\n")
	}
	return b.String()
}
