package owner

// Status is the state of a partition this node owns, owned, or is about to
// own.
type Status uint8

const (
	// None: this node holds no owned copy of the partition.
	None Status = iota
	// Incoming: the table names this node the owner; a pull is under way
	// and items wait (parked) until the state is installed.
	Incoming
	// Owned: serving (under the lease, see Serve).
	Owned
	// Fenced: the state was handed to a new owner; this node acknowledges
	// nothing for the partition any more.
	Fenced
)

func (s Status) String() string {
	switch s {
	case None:
		return "none"
	case Incoming:
		return "incoming"
	case Owned:
		return "owned"
	case Fenced:
		return "fenced"
	}
	return "unknown"
}

// Tables is what a plan knows of one table change, for every partition.
type Tables struct {
	// Continuous: the new table directly follows the one before (next
	// epoch, both planned with quorum). After a jump (this node was paused,
	// cut off, or adopted a newer epoch) or a gap (the table before was a
	// minority table, whose epoch says nothing of the majority's), an owned
	// partition must be verified.
	Continuous bool
	// Raise: ownership the new table confirms takes its epoch. False on the
	// minority side, and when a member of the table before is missing from
	// the new one: that member may be on the other side of a network
	// partition, numbering a table of its own with the same epoch, and the
	// copy it takes over there must outrank this one when the sides meet.
	Raise bool
	// VerifyOnly: the table did not change; the lease came back, so only
	// owned copies not verified under the current lease generation are
	// looked at.
	VerifyOnly bool
}

// ContinuousTables reports whether a table at epoch follows one at told
// directly (told 0: no table before); gap says told was planned without
// quorum.
func ContinuousTables(told, epoch uint64, gap bool) bool {
	return !gap && told > 0 && epoch <= told+1
}

// Held is what this node holds of one partition when a table changes.
type Held struct {
	Status  Status
	Dormant bool // owned, but a table gave the partition to another node since
	// Verified: the owned copy was installed or verified under the current
	// lease generation.
	Verified bool
	// WasOwner: the table before named this node the owner.
	WasOwner bool
	// HasData: a fenced copy still holds its data (not released).
	HasData bool
	// Replica: this node holds a backup copy with data.
	Replica bool
	// NoOtherHolder: no other node could hold the partition (no candidates
	// to pull from, no member of a previous run awaited): it is new.
	NoOtherHolder bool
}

// OwnAction is what a node does with a partition the new table gives it.
type OwnAction uint8

const (
	// Skip: nothing to do (a verify-only plan with nothing to verify).
	Skip OwnAction = iota
	// Keep: still ours, confirmed by the next table; the ownership takes
	// the table's epoch if Tables.Raise.
	Keep
	// Reverify: owned, but after a gap, a jump, or a lapse: the copy
	// becomes the fallback of a pull that looks for newer ones.
	Reverify
	// ContinuePull: incoming already; make sure its pull runs.
	ContinuePull
	// StartEmpty: a new partition, owned empty at the table's epoch.
	StartEmpty
	// StartPull: incoming from now; a fenced copy with data, or else a backup
	// copy, is the fallback should nothing newer be found.
	StartPull
)

var ownActionNames = [...]string{"skip", "keep", "reverify", "continue-pull", "start-empty", "start-pull"}

func (a OwnAction) String() string { return ownActionNames[a] }

// PlanOwned decides what to do with a partition the new table gives this
// node.
func PlanOwned(tt Tables, h Held) OwnAction {
	owned := h.Status == Owned
	switch {
	case tt.VerifyOnly && (!owned || h.Dormant || h.Verified):
		// Only owned copies not verified since the lease came back are
		// looked at; the rest waits for tables.
		if h.Status == Incoming {
			return ContinuePull
		}
		return Skip
	case owned && !h.Dormant && tt.Continuous && h.WasOwner && h.Verified:
		return Keep
	case owned:
		// Ours again after a gap: another node may have owned it and
		// taken writes meanwhile.
		return Reverify
	case h.Status == Incoming:
		return ContinuePull
	case h.NoOtherHolder:
		return StartEmpty
	}
	return StartPull
}

// AwayAction is what a node does with a partition the new table gives to
// another node.
type AwayAction uint8

const (
	// Leave: nothing held here as owner.
	Leave AwayAction = iota
	// MarkDormant: an owned copy stays until its new owner pulls it; if the
	// partition comes back without that, it must be verified.
	MarkDormant
	// Abandon: incoming, no longer ours before its state arrived: parked
	// items are answered "moved", and a fallback copy it had stays,
	// dormant.
	Abandon
)

// PlanAway decides what to do with an owned-here partition that the new
// table gives to another node.
func PlanAway(s Status) AwayAction {
	switch s {
	case Owned:
		return MarkDormant
	case Incoming:
		return Abandon
	}
	return Leave
}

// Backup is what this node holds of a partition the new table names it a
// backup of.
type Backup struct {
	Exists   bool // a backup copy (maybe syncing) exists
	Syncing  bool // waiting for a snapshot from the owner
	Orphaned bool // the table before did not name this node a backup
	// OwnerChanged: the table before named another owner (or there was
	// none).
	OwnerChanged bool
}

// Resync reports whether a backup copy must be synchronised again from its
// owner: a copy that stopped following (orphaned), or whose owner changed
// (the new owner's writes continue from the copy it pulled, maybe not this
// one), or after tables this node missed (paused, cut off: the owner may
// have pulled another copy meanwhile, whose LSNs this copy would take for
// ones it has). Its data stays available to pullers meanwhile.
func Resync(tt Tables, b Backup) bool {
	return !b.Exists || b.Syncing || b.Orphaned || b.OwnerChanged || !tt.Continuous
}
