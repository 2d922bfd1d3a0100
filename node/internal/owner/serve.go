package owner

// Item is what a worker knows when a client item arrives for a partition.
type Item struct {
	// Ours: the current table names this node the owner.
	Ours    bool
	Status  Status
	HasData bool // a fenced copy still holds its data
	Dormant bool
	// Verified: the owned copy was installed or verified under the current
	// lease generation.
	Verified bool
	// Lease: the serving lease holds now.
	Lease bool
	// Quorum: this node's table has quorum (it sees a majority of the
	// last agreed members). A lease says the node hears from a majority;
	// only a table with quorum says the majority agreed on who owns what.
	Quorum bool
}

// ServeAction is what a worker does with a client item.
type ServeAction uint8

const (
	// Apply it: owned, verified, under the lease.
	Apply ServeAction = iota + 1
	// MovedFenced: answer "moved" to where the copy was handed (the fence
	// epoch and its new owner).
	MovedFenced
	// Moved: answer "moved" to the owner the table names.
	Moved
	// PullBack: the table names this node the owner of a partition it
	// handed away (to a puller whose table was, briefly, different): pull
	// it back (its copy, if not released yet, competes with what the pull
	// finds); the item waits.
	PullBack
	// AwaitPlan: owned by the table but not planned yet (the plan is on its
	// way through the priority lane): the item waits, incoming.
	AwaitPlan
	// Lapsed: the serving lease lapsed: answer unavailable.
	Lapsed
	// Verify: a dormant copy, or one not verified since the lease last
	// lapsed, is never served before a pull verified it: it becomes the
	// fallback of a pull; the item waits.
	Verify
	// Park: incoming: the item waits for the state.
	Park
	// Minority: the lease holds but the table lacks quorum (the node hears
	// from a majority again before gossip has given it their table):
	// answer unavailable, reads included. Found by make soak: a copy taken
	// over under a minority table served a read there (the
	// lease-back-under-minority-table scenario).
	Minority
)

var serveActionNames = [...]string{"", "apply", "moved-fenced", "moved", "pull-back", "await-plan", "lapsed", "verify", "park", "minority"}

func (a ServeAction) String() string { return serveActionNames[a] }

// Serve decides what a worker does with a client item.
func Serve(it Item) ServeAction {
	switch {
	case it.Status == Fenced && !it.Ours:
		return MovedFenced
	case !it.Ours:
		return Moved
	case it.Status == Fenced:
		return PullBack
	case it.Status == None:
		return AwaitPlan
	case it.Status == Incoming:
		return Park
	case !it.Lease:
		return Lapsed
	case !it.Quorum:
		return Minority
	case it.Dormant || !it.Verified:
		return Verify
	}
	return Apply
}
