package owner

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Kind is what a pull is for.
type Kind uint8

const (
	// OwnerPull: this node owns the partition and pulls its state; every
	// holder asked fences its copy, and the newest copy found is installed.
	OwnerPull Kind = iota
	// ReplicaPull: this node is a backup and pulls a snapshot from the
	// owner, which keeps serving.
	ReplicaPull
)

func (k Kind) String() string {
	if k == ReplicaPull {
		return "replica"
	}
	return "owner"
}

// Member is a node a pull may ask.
type Member struct {
	ID, Addr string
	// Dead: the failure detector declared it dead and it is out of the
	// table. It is still asked, but the Fetcher gives it only a short time
	// to answer (DeadAnswerTimeout's job in node/), and no answer skips it
	// rather than failing the attempt.
	Dead bool
}

// Reply is a holder's answer to one fetch.
type Reply struct {
	Found    bool
	Version  Version // Found: the copy's version (Valid false: unreadable header)
	Valid    bool
	Redirect Member // not found: the node the holder handed its copy to
	// Err: the holder could not be asked, or answered an error.
	Err error
	// FromHolder: Err is an answer of the holder itself (it is alive and
	// may hold the state), not a transport failure.
	FromHolder bool
	// Covers: Found: the copy holds every write acknowledged under the
	// tables of this epoch and older, as far as its holder knows: the last
	// table under which it served the copy as owner, or followed its owner
	// as an in-sync backup (0: none).
	Covers uint64
	// History: the partition's tables as the holder saw them (any answer
	// but a transport failure carries it). The puller adds them to its
	// own: two majorities share a member, so a table a majority numbered
	// is known to someone the puller asks, even if the puller never saw it.
	History []Holding
}

// Fetcher is what a pull needs from its node. Its methods run on the
// pull's goroutine, one at a time; they may block (network I/O).
type Fetcher interface {
	// Fetch asks m for the partition. The copy stays reserved at m (its
	// stream open) until Release or Install names m.
	Fetch(m Member, takeFenced bool) Reply
	// Release tells m its copy will not be installed (m keeps it, fenced).
	Release(m Member)
	// Install installs m's fetched copy now (replica pulls install the
	// first copy found); it reports whether it was installed.
	Install(m Member) (bool, error)
	// Resolve finds the address of a member a holder redirected to when
	// the holder did not know it ("" if nobody does).
	Resolve(id string) string
}

// PullPlan is the input of one pull attempt.
type PullPlan struct {
	Kind Kind
	// Self is the pulling node: never asked, even when a holder redirects
	// to it (it handed its copy here, and this node's pull is the one
	// looking).
	Self string
	// Candidates in order of preference: the previous owner, previous and
	// current backups, every other member of the tables, then (owner
	// pulls) every other live member gossip knows.
	Candidates []Member
	// InTable reports whether id is a member of the current table (a live
	// member: never give up on it).
	InTable func(id string) bool
	// Dead: members out of the table that the failure detector declared
	// dead. They are asked briefly (Member.Dead) and skipped when they do
	// not answer: with backups, every write they acknowledged is on a
	// backup, which is asked. Asking them at all matters when the
	// declaration is false: a member one side of a healed network
	// partition declared dead, gossiped to the other side, is taken over
	// for the moment before it refutes; asked, it hands its copy over and
	// stops serving it, rather than serving reads of a copy others write to
	// (docs/handoff.md section 13).
	Dead map[string]bool
	// History is the partition's recent tables as this node saw them,
	// oldest first: who owned and backed it up at each epoch. See
	// Pull for the rule it feeds.
	History []Holding
	// Own is this node's own newest copy (the fallback of the pull, or its
	// backup copy), if HasOwn; OwnCovers is what it covers (Reply.Covers).
	Own       Version
	HasOwn    bool
	OwnCovers uint64
	// Awaiting: members of the previous run (restart from a data
	// directory) not back yet; an owner pull waits for them.
	Awaiting []string
}

// Holding is one table of a partition's history: its epoch and the members
// that owned (Holders[0]) and backed the partition up in it.
type Holding struct {
	Epoch   uint64
	Holders []string
}

// Outcome is how one pull attempt ends.
type Outcome uint8

const (
	// Retry: try again later (Err says why).
	Retry Outcome = iota
	// Installed: a replica pull installed a copy.
	Installed
	// InstallBest: an owner pull found its newest copy (Best): install it.
	InstallBest
	// NoCopy: no live node holds the partition, and none that could not
	// be asked may hold newer writes (unsafe): it starts here, from this
	// node's own earlier copy or empty, if the table still names this node
	// the owner. (The history rule took over issue 13's "wait for the
	// previous holders" rule, which looked at the table before only.)
	NoCopy
)

var outcomeNames = [...]string{"retry", "installed", "install-best", "no-copy"}

func (o Outcome) String() string { return outcomeNames[o] }

// PullResult is the result of one pull attempt.
type PullResult struct {
	Outcome Outcome
	Best    Member  // InstallBest: the holder of the newest copy
	BestVer Version // its version
	Err     error
	Answers []string // what each candidate answered, for logs
}

// ErrBadCopy reports a fetched copy whose header could not be read.
var ErrBadCopy = errors.New("owner: unreadable copy")

// pull is the state of one attempt.
type pull struct {
	PullPlan
	f          Fetcher
	cands      []Member
	asked      map[string]bool
	redirected map[string]Member // target id -> the fenced holder that named it
	notThere   map[string]bool   // answered "not here", no pointer
	blocked    bool              // a live node that may hold a newer copy could not be asked
	skipped    map[string]bool   // dead members that did not answer
	covers     uint64            // the newest epoch a copy found (or this node's) covers
	errs       []error
	res        PullResult
	best       *Member
}

// Pull runs one attempt: it asks every candidate once (following
// redirects), keeps the newest copy (owner pulls; the order of candidates
// must not decide) or installs the first (replica pulls), and says how the
// attempt ends.
func Pull(pp PullPlan, f Fetcher) PullResult {
	hist := pp.History
	pp.History = nil
	pl := &pull{PullPlan: pp, f: f, cands: append([]Member(nil), pp.Candidates...),
		asked: map[string]bool{pp.Self: true}, redirected: map[string]Member{}, notThere: map[string]bool{},
		skipped: map[string]bool{}}
	if pp.HasOwn {
		pl.covers = pp.OwnCovers
	}
	pl.learn(hist)
	for ci := 0; ci < len(pl.cands); ci++ {
		if pl.step(ci) {
			return pl.res
		}
	}
	return pl.finish()
}

func (pl *pull) answer(format string, args ...any) {
	pl.res.Answers = append(pl.res.Answers, fmt.Sprintf(format, args...))
}

// step asks candidate ci; it reports whether the attempt is over.
func (pl *pull) step(ci int) bool {
	c := pl.cands[ci]
	if pl.asked[c.ID] {
		return false
	}
	pl.asked[c.ID] = true
	dead := pl.Dead[c.ID] && !pl.InTable(c.ID)
	c.Dead = dead
	c, r := pl.ask(ci, c)
	if dead && r.Err != nil && !r.FromHolder {
		pl.res.Answers[len(pl.res.Answers)-1] = fmt.Sprintf("%s:dead", c.ID)
		pl.skipped[c.ID] = true
		return false
	}
	if r.Err != nil {
		pl.errs = append(pl.errs, fmt.Errorf("%s: %w", c.ID, r.Err))
		if pl.InTable(c.ID) || r.FromHolder {
			pl.blocked = true // a live member we could not ask may hold the state
		}
		return false
	}
	if !r.Found {
		return false
	}
	pl.covers = max(pl.covers, r.Covers)
	if pl.Kind == ReplicaPull {
		ok, err := pl.f.Install(c)
		if ok {
			pl.res.Outcome = Installed
			return true
		}
		if err != nil {
			pl.errs = append(pl.errs, err)
			pl.blocked = true
		}
		return false
	}
	pl.keepNewest(c, r)
	return false
}

// keepNewest keeps c's copy if it is the newest found so far (owner pulls),
// releasing the other.
func (pl *pull) keepNewest(c Member, r Reply) {
	switch {
	case !r.Valid:
		pl.errs = append(pl.errs, fmt.Errorf("%s: %w", c.ID, ErrBadCopy))
		pl.f.Release(c)
		pl.blocked = true
	case pl.best == nil || r.Version.Newer(pl.res.BestVer):
		if pl.best != nil {
			pl.f.Release(*pl.best)
		}
		pl.best = &c
		pl.res.BestVer = r.Version
	default:
		pl.f.Release(c)
	}
}

// ask fetches from candidate c (index ci), following what holders say
// about copies they handed on: it returns whom it got the last answer from,
// and that answer.
func (pl *pull) ask(ci int, c Member) (Member, Reply) {
	r := pl.f.Fetch(c, false)
	pl.learn(r.History)
	if holder, ok := pl.redirected[c.ID]; ok && r.Err == nil && !r.Found && r.Redirect.ID == "" {
		// The node the holder handed the partition to does not have it
		// (its pull failed after the fence): take the fenced copy.
		pl.answer("%s:not-there", c.ID)
		c = holder
		r = pl.f.Fetch(c, true)
		pl.learn(r.History)
	}
	if _, ok := pl.redirected[c.ID]; ok && r.Err != nil && pl.InTable(c.ID) {
		pl.blocked = true // a live node known to have held it: never give up on it
	}
	pl.answer("%s:found=%v,redirect=%s,err=%v", c.ID, r.Found, r.Redirect.ID, r.Err)
	if r.Err == nil && !r.Found && r.Redirect.ID == "" {
		pl.notThere[c.ID] = true
	}
	if r.Redirect.ID != "" && pl.notThere[r.Redirect.ID] {
		// Handed to a node that already said it does not have it: take
		// the fenced copy.
		pl.answer("%s:not-there", r.Redirect.ID)
		r = pl.f.Fetch(c, true)
		pl.learn(r.History)
		if r.Err != nil {
			pl.blocked = true
		}
	}
	if r.Redirect.ID != "" && r.Redirect.Addr == "" {
		// Fenced for a node the holder's table did not have yet.
		r.Redirect.Addr = pl.f.Resolve(r.Redirect.ID)
	}
	if r.Redirect.ID != "" && r.Redirect.Addr != "" && !pl.asked[r.Redirect.ID] {
		// Handed on: ask that node next.
		pl.redirected[r.Redirect.ID] = c
		pl.cands = append(pl.cands[:ci+1], append([]Member{r.Redirect}, pl.cands[ci+1:]...)...)
	}
	return c, r
}

func (pl *pull) retry(format string, args ...any) PullResult {
	if pl.best != nil {
		pl.f.Release(*pl.best)
	}
	pl.res.Outcome = Retry
	pl.res.Err = fmt.Errorf(format, args...)
	return pl.res
}

func (pl *pull) finish() PullResult {
	if pl.Kind == OwnerPull && len(pl.Awaiting) > 0 {
		// Restarted from the data directory: a member of the previous run
		// that is not back yet may hold a newer copy.
		return pl.retry("waiting for members of the previous run to come back: %v (answers %v)", pl.Awaiting, pl.res.Answers)
	}
	if h, ok := pl.unsafe(); ok && pl.Kind == OwnerPull {
		return pl.retry("waiting for the holders %v of table %d, unreachable: none of the copies found is as new as that table, and they may hold writes acknowledged under it (answers %v)", h.Holders, h.Epoch, pl.res.Answers)
	}
	if pl.best != nil {
		if pl.blocked {
			// A live node we could not ask may hold a newer copy.
			return pl.retry("%w (answers %v)", errors.Join(pl.errs...), pl.res.Answers)
		}
		pl.res.Outcome = InstallBest
		pl.res.Best = *pl.best
		return pl.res
	}
	if pl.Kind == ReplicaPull || pl.blocked {
		pl.res.Outcome = Retry
		if len(pl.errs) == 0 {
			pl.res.Err = fmt.Errorf("no copy yet (answers %v)", pl.res.Answers)
		} else {
			pl.res.Err = fmt.Errorf("%w (answers %v)", errors.Join(pl.errs...), pl.res.Answers)
		}
		return pl.res
	}
	pl.res.Outcome = NoCopy
	return pl.res
}

// learn adds a holder's history to the pull's, ordered by epoch. Two
// tables with one epoch (two sides of a network partition numbered theirs
// alike) are both kept.
func (pl *pull) learn(hs []Holding) {
	for _, h := range hs {
		i, _ := slices.BinarySearchFunc(pl.History, h.Epoch, func(a Holding, e uint64) int { return cmp.Compare(a.Epoch, e) })
		dup := false
		for j := i; j < len(pl.History) && pl.History[j].Epoch == h.Epoch; j++ {
			dup = dup || slices.Equal(pl.History[j].Holders, h.Holders)
		}
		if !dup {
			pl.History = slices.Insert(pl.History, i, Holding{Epoch: h.Epoch, Holders: slices.Clone(h.Holders)})
		}
	}
}

// unsafe finds a table of the history that forbids finishing the pull with
// the copies at hand. A write acknowledged under a table is on that table's
// owner and on every one of its backups; from there it reaches every later
// owner that pulled safely, and the backups that follow them. So a copy
// whose holder served it as owner, or followed its owner in sync, under the
// table of epoch E holds every write acknowledged under the tables up to E
// (Reply.Covers). Tables newer than what the copies at hand cover, and not
// older than the newest copy's epoch, are weighed: if one of their holders
// was skipped as dead, it may be cut off rather than crashed, holding
// acknowledged writes nobody else has. The pull waits (as Kafka does with
// unclean leader election off) until one answers or gossip forgets it.
// Found by TestPropertyNothingAcknowledgedLost: an owner and its backup
// cut off together while the majority's tables moved on, then a stale copy,
// or none, installed.
func (pl *pull) unsafe() (Holding, bool) {
	best, have := pl.Own, pl.HasOwn
	if pl.best != nil && (!have || pl.res.BestVer.Newer(best)) {
		best, have = pl.res.BestVer, true
	}
	for i := len(pl.History) - 1; i >= 0; i-- {
		h := pl.History[i]
		if h.Epoch <= pl.covers {
			break
		}
		if have && h.Epoch < best.Epoch {
			continue
		}
		for _, id := range h.Holders {
			if pl.skipped[id] {
				return h, true
			}
		}
	}
	return Holding{}, false
}

// PullAgain reports whether an owner pull that found its copy (or none)
// must start again rather than install: it began under a table built
// without quorum (beganMinority) and the node has quorum again (quorumNow).
// Under the minority table the copy would keep its data's epoch (section 7:
// no copy takes the epoch of a table built without quorum), while the pull
// fenced its holders at that table's epoch, above it: installed under the
// quorum table, the owner's snapshots and writes would be refused by a
// backup so fenced, for good. Pulled again under the current table, the
// holders are fenced at its epoch and the copy installs at it. Found by
// make soak (seed 1796678799204286712); script
// minority-pull-installed-after-heal.
func PullAgain(beganMinority, quorumNow bool) bool { return beganMinority && quorumNow }
