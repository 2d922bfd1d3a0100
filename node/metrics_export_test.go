package node

import (
	"time"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// Test hooks: the request path calls these once they are wired in.

func CountResultsForTest(n *Node, results []*nsv1.Result, forwarded bool) {
	n.countResults(results, forwarded)
}
func NoteBackpressureForTest(n *Node, w, items int) { n.noteBackpressure(w, items) }
func ObserveKeysForTest(n *Node, w int, items []*nsv1.Item) {
	n.observeKeys(w, items)
}
func NoteHandoffForTest(n *Node, incoming bool, bytes int64, d time.Duration, err error) {
	n.noteHandoff(incoming, bytes, d, err)
}
func SetMovingForTest(n *Node, in, out []int) { n.setMoving(in, out) }

// SetSnapshotIntervalForTest changes how often workers snapshot the
// partitions pinning old log segments; call it before nodes start.
func SetSnapshotIntervalForTest(d time.Duration) (restore func()) {
	old := snapshotInterval
	snapshotInterval = d
	return func() { snapshotInterval = old }
}
