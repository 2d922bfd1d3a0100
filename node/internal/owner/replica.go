package owner

// Replicated is what a node does with a write another node replicated to it
// as that partition's backup.
type Replicated uint8

const (
	// ApplyToBackup: apply it to the backup copy (if the copy is not fenced
	// against the sender's epoch: see RefuseReplicated).
	ApplyToBackup Replicated = iota
	// RefuseOwnerHere: this node owns (or is pulling) the partition at an
	// epoch as new as the sender's: the sender is a paused or cut-off old
	// owner.
	RefuseOwnerHere
	// FenceOwned: the sender owns the partition at an epoch at least as
	// new as this node's owned copy, and the table names it the owner:
	// the owned copy here is stale. Fence it (never serve it again), drop
	// its data, then apply the write to the backup copy.
	FenceOwned
)

var replicatedNames = [...]string{"apply", "refuse-owner-here", "fence-owned"}

func (r Replicated) String() string { return replicatedNames[r] }

// OnReplicated decides about a write replicated at epoch op, sent by a node
// the current table names the owner (senderOwns) or not, given this node's
// own copy of the partition (st, at epoch own).
func OnReplicated(st Status, own uint64, senderOwns bool, op uint64) Replicated {
	if st == None || st == Fenced {
		return ApplyToBackup
	}
	// Equal epochs happen while gossip converges on one epoch number.
	stale := st == Owned && senderOwns && op >= own
	if own >= op && !stale {
		return RefuseOwnerHere
	}
	if st == Owned {
		return FenceOwned
	}
	return ApplyToBackup
}

// RefuseReplicated reports whether a backup copy at epoch, fenced by a
// puller at fence, refuses a write from an owner at epoch op: an older
// owner's writes are refused once a newer one wrote or a puller took the
// copy.
func RefuseReplicated(epoch, fence, op uint64) bool {
	return op < max(epoch, fence)
}
