package owner

// Start is what a node holds when its owner pull found no live copy.
type Start struct {
	// StillOwner: the current table still names this node the owner.
	StillOwner bool
	// HoldsCopy: this node holds data of the partition it could start
	// from (its own earlier copy, or a backup copy).
	HoldsCopy bool
}

// StartAction is what a node does when no live node holds a partition it
// owns.
type StartAction uint8

const (
	// Drop: the table moved the partition on meanwhile: nothing to do.
	Drop StartAction = iota
	// Wait: a previous owner or backup is unreachable and this node has no
	// copy of its own: they may be cut off, not crashed, with every write
	// acknowledged so far. Starting empty would lose those writes (a
	// network partition that cut an owner and its backup off together).
	// The partition stays unserved until one of them answers again, as
	// Kafka does with unclean leader election off. (Pull's history rule
	// covers this and more; this one remains for a node that passes no
	// history.)
	Wait
	// Begin: install this node's own earlier copy, or an empty state.
	Begin
)

var startActionNames = [...]string{"drop", "wait", "begin"}

func (a StartAction) String() string { return startActionNames[a] }

// NoCopyFound decides what a NoCopy pull result leads to.
func NoCopyFound(r PullResult, s Start) StartAction {
	switch {
	case !s.StillOwner:
		return Drop
	case len(r.DeadHolders) > 0 && !s.HoldsCopy:
		return Wait
	}
	return Begin
}

// Chosen says which copy an owner install keeps.
type Chosen uint8

const (
	// Pulled: the copy the pull fetched (or empty, if none).
	Pulled Chosen = iota
	// Fallback: this node's own earlier copy (owned, or the backup copy
	// the pull was planned with).
	Fallback
	// OwnReplica: this node's backup copy.
	OwnReplica
)

var chosenNames = [...]string{"pulled", "fallback", "own-replica"}

func (c Chosen) String() string { return chosenNames[c] }

// Copies are the copies an owner install chooses between.
type Copies struct {
	Pulled      Version
	HavePulled  bool // false: no live copy was found (start empty)
	Fallback    Version
	HasFallback bool
	Replica     Version
	HasReplica  bool
}

// Choose picks the newest of the pulled copy, the fallback and this node's
// backup copy. The fallback wins over a pulled copy only when strictly
// newer, or when nothing was pulled; the backup copy wins over both only
// when strictly newer.
func Choose(c Copies) Chosen {
	ch, v := Pulled, c.Pulled
	if c.HasFallback && (!c.HavePulled || c.Fallback.Newer(c.Pulled)) {
		ch, v = Fallback, c.Fallback
	}
	if c.HasReplica && c.Replica.Newer(v) {
		ch = OwnReplica
	}
	return ch
}
