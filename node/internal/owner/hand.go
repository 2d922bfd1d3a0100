package owner

// Holder is what a node holds of a partition when a puller asks for it in
// owner mode (it will own the partition and asks this node to fence its
// copy and hand it over).
type Holder struct {
	// TableOwnsHere: this node's table, as new as the puller's or newer,
	// names this node the owner: the puller's table is stale (or numbers
	// the same epoch for another member set while gossip converges).
	TableOwnsHere bool

	Status  Status
	Owned   Version // the owned or fenced copy's version
	HasData bool    // a fenced copy still holds its data
	MovedTo string  // fenced: the node it was handed to

	Replica    bool    // a backup copy with data is here
	ReplicaVer Version // its version

	// Fetching: a pull of the partition is asking holders right now here
	// (its state may be on its way to this node).
	Fetching bool
}

// Ask is a puller's request to a holder.
type Ask struct {
	From       string // the puller
	Epoch      uint64 // the puller's table epoch
	TakeFenced bool   // take a copy fenced for another node (its pull failed)
}

// HandAction is a holder's answer to an owner-mode pull.
type HandAction uint8

const (
	// NotHere: nothing to hand, no pointer.
	NotHere HandAction = iota
	// HandOwned: snapshot and fence the owned (or fenced) copy for the
	// puller, in one step on the worker; the backup copy, if any, is fenced
	// at the puller's epoch too.
	HandOwned
	// HandReplica: snapshot the backup copy and fence it at the puller's
	// epoch; an owned copy here is stale: fence it, drop its data.
	HandReplica
	// RefuseStale: the newest copy here is at a newer ownership epoch than
	// the puller's table: the puller is behind.
	RefuseStale
	// RefuseOwner: this node's table names it the owner at an epoch as new
	// as the puller's: retry once tables agree.
	RefuseOwner
	// Redirect: handed on to another node (MovedTo): ask it.
	Redirect
	// Arriving: the state may be on its way here: ask again shortly.
	Arriving
)

var handActionNames = [...]string{"not-here", "hand-owned", "hand-replica", "refuse-stale", "refuse-owner", "redirect", "arriving"}

func (a HandAction) String() string { return handActionNames[a] }

// Hand decides what a holder answers an owner-mode pull. The copies it may
// hand over are its own (owned, or fenced for this puller, or taken back)
// and its backup copy; the newer one wins.
func Hand(h Holder, a Ask) HandAction {
	if h.TableOwnsHere {
		return RefuseOwner
	}
	own := h.Status == Owned || h.Status == Fenced && h.HasData && (h.MovedTo == a.From || a.TakeFenced)
	if own && h.Replica && h.ReplicaVer.Newer(h.Owned) {
		own = false
	}
	switch {
	case own:
		if h.Status == Owned && h.Owned.Epoch > a.Epoch {
			return RefuseStale
		}
		return HandOwned
	case h.Replica:
		if h.ReplicaVer.Epoch > a.Epoch {
			return RefuseStale
		}
		return HandReplica
	case h.Status == Fenced && h.MovedTo != a.From:
		return Redirect
	case (h.Status == None || h.Status == Incoming) && h.Fetching:
		return Arriving
	}
	return NotHere
}
