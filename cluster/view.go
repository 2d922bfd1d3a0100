package cluster

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
)

// State is a member's liveness as this node sees it.
type State int

// Member states. The zero value is StateAlive.
const (
	// StateAlive: the member answers probes.
	StateAlive State = iota
	// StateSuspect: the member missed probes and may be dead; it still owns
	// its partitions. memberlist v0.7.0 does not expose suspicion to its
	// users (see doc.go), so this package never reports it today.
	StateSuspect
	// StateDead: the failure detector declared the member dead.
	StateDead
	// StateLeft: the member left gracefully (Leave).
	StateLeft
)

// String returns "alive", "suspect", "dead", "left" or "State(n)".
func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Live reports whether a member in state s belongs to a View (alive or
// suspect).
func (s State) Live() bool { return s == StateAlive || s == StateSuspect }

// Member is one node of the cluster as this node sees it. It is a value type,
// comparable with ==.
type Member struct {
	// ID is the node id (memberlist's node name), unique in the cluster.
	ID string
	// GossipAddr is the advertised gossip address, host:port.
	GossipAddr string
	// Meta is the metadata the member advertises.
	Meta Meta
	// State is the member's liveness.
	State State
}

// View is an immutable snapshot of the live members. Nodes that see the same
// member set agree on its Epoch once gossip has converged (see doc.go), and
// epochs only increase. Two successive views with the same Epoch have the same
// members and differ only in their metadata.
//
// A View and its Members slice are shared: callers must not modify them.
type View struct {
	// Epoch numbers the member set; it starts at 1.
	Epoch uint64
	// Hash identifies the set of member ids (FNV-1a over the sorted ids):
	// equal Epoch and Hash mean the same members.
	Hash uint64
	// Members are the alive and suspect members, this node included, sorted
	// by ID.
	Members []Member
	// Local is this node's id.
	Local string
}

// Member returns the member with the given id and whether it is in the view.
func (v View) Member(id string) (Member, bool) {
	i, ok := slices.BinarySearchFunc(v.Members, id, func(m Member, id string) int {
		switch {
		case m.ID < id:
			return -1
		case m.ID > id:
			return 1
		}
		return 0
	})
	if !ok {
		return Member{}, false
	}
	return v.Members[i], true
}

// IDs returns the ids of the members, sorted.
func (v View) IDs() []string {
	ids := make([]string, len(v.Members))
	for i, m := range v.Members {
		ids[i] = m.ID
	}
	return ids
}

// equal reports whether v and o are the same view.
func (v View) equal(o View) bool {
	return v.Epoch == o.Epoch && v.Hash == o.Hash && v.Local == o.Local && slices.Equal(v.Members, o.Members)
}

// setHash hashes sorted member ids, each prefixed by its length so that
// distinct sets never share an input.
func setHash(sortedIDs []string) uint64 {
	h := fnv.New64a()
	var n [binary.MaxVarintLen64]byte
	for _, id := range sortedIDs {
		_, _ = h.Write(n[:binary.PutUvarint(n[:], uint64(len(id)))])
		_, _ = h.Write([]byte(id))
	}
	return h.Sum64()
}
