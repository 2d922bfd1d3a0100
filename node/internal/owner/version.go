package owner

import "fmt"

// Version is a copy's place in its partition's history: the ownership epoch
// its owner wrote it at, then how many writes it holds. Of two copies of a
// partition the newer version wins, whoever holds it: a copy owned long ago
// is older than a backup copy that followed a later owner, however many
// writes either took.
type Version struct {
	Epoch uint64 // ownership epoch of the data
	LSN   uint64 // sequence number of its last applied write
}

// Newer reports whether v is strictly newer than o.
func (v Version) Newer(o Version) bool {
	return v.Epoch > o.Epoch || v.Epoch == o.Epoch && v.LSN > o.LSN
}

func (v Version) String() string { return fmt.Sprintf("%d/%d", v.Epoch, v.LSN) }

// Newest returns the index of the newest of vs (the first of equals), or -1
// when vs is empty.
func Newest(vs ...Version) int {
	best := -1
	for i, v := range vs {
		if best < 0 || v.Newer(vs[best]) {
			best = i
		}
	}
	return best
}
