package node

import "testing"

// TestStartPullWhileRunningLooksAgain: a pull requested while one of the
// same partition and kind runs, without a previous table (a backup's
// refusal, a replica resync), makes the running loop look again before it
// ends. It was stored as a nil table, which read as "no look again"; found
// by make soak (seed 1796678799204286712): a partition incoming for good,
// with no pull running.
func TestStartPullWhileRunningLooksAgain(t *testing.T) {
	n := &Node{pulling: map[pullKey]pullAgain{}}
	k := pullKey{p: 7, kind: pullOwner}
	n.pulling[k] = pullAgain{} // a loop is running
	n.startPull(k, nil)
	if st := n.pulling[k]; !st.again || st.told != nil {
		t.Fatalf("mark after a request without a previous table: %+v, want again", st)
	}
}
