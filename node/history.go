package node

import (
	"sync"

	"github.com/nothingshared/ns/node/internal/owner"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
)

// historyLen bounds the tables a node remembers for the pull rule: a table
// older than the last historyLen this node planned is forgotten, and with
// it the holders it named (docs/handoff.md, "Whose copy may be missing").
const historyLen = 32

// tableHistory is the tables this node planned, oldest first. Pulls read
// it (owner.PullPlan.History) and holders send it to pullers
// (HandoffResponse.history): two majorities share a member, so a table
// one majority numbered is known to someone a later puller asks.
type tableHistory struct {
	mu     sync.Mutex // guards tables
	tables []*ring.Table
}

// add remembers t (nil, epoch 0 or the same table again: ignored).
func (h *tableHistory) add(t *ring.Table) {
	if t == nil || t.Epoch() == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if l := len(h.tables); l > 0 && h.tables[l-1] == t {
		return
	}
	h.tables = append(h.tables, t)
	if len(h.tables) > historyLen {
		h.tables = append(h.tables[:0], h.tables[len(h.tables)-historyLen:]...)
	}
}

// holdings is partition p's owner and backups in each remembered table.
func (h *tableHistory) holdings(p int) []owner.Holding {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]owner.Holding, 0, len(h.tables))
	for _, t := range h.tables {
		if p >= t.Partitions() {
			continue
		}
		hs := []string{t.Owner(p).ID}
		for _, b := range t.BackupsOf(p) {
			hs = append(hs, b.ID)
		}
		out = append(out, owner.Holding{Epoch: t.Epoch(), Holders: hs})
	}
	return out
}

func holdingsToProto(hs []owner.Holding) []*nsv1.PartitionHolding {
	out := make([]*nsv1.PartitionHolding, len(hs))
	for i, h := range hs {
		out[i] = &nsv1.PartitionHolding{Epoch: h.Epoch, Holders: h.Holders}
	}
	return out
}

func holdingsFromProto(ps []*nsv1.PartitionHolding) []owner.Holding {
	out := make([]owner.Holding, len(ps))
	for i, p := range ps {
		out[i] = owner.Holding{Epoch: p.GetEpoch(), Holders: p.GetHolders()}
	}
	return out
}
