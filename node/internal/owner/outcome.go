package owner

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
