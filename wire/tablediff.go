package wire

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
)

// TableDiffToProto describes how to turn old into new, for a table watch
// (issue 18: a join at 1,000 members and 16,384 partitions changes tens of
// partitions of a table that takes ~150 KB whole). It returns nil when a
// diff cannot describe the change (the partition count, backup count or key
// hash differ) or would not be smaller than the whole table (more than half
// of the partitions changed).
func TableDiffToProto(old, new *ring.Table) *nsv1.TableDiff {
	if old == nil || new == nil || old.Partitions() != new.Partitions() ||
		old.BackupCount() != new.BackupCount() || old.Config().KeyHash != new.Config().KeyHash {
		return nil
	}
	d := &nsv1.TableDiff{BaseEpoch: old.Epoch(), BaseHash: old.Hash(), Epoch: new.Epoch(), Hash: new.Hash()}
	for _, m := range old.Members() {
		if nm, ok := new.Member(m.ID); !ok || nm != m {
			d.Removed = append(d.Removed, m.ID)
		}
	}
	for _, m := range new.Members() {
		if om, ok := old.Member(m.ID); !ok || om != m {
			d.Added = append(d.Added, &nsv1.TableMember{Id: m.ID, GrpcAddr: m.Addr, Zone: m.Zone})
		}
	}
	om, nm := old.Members(), new.Members()
	for p := range new.Partitions() {
		if sameHolders(old, new, om, nm, p) {
			continue
		}
		if len(d.Partitions) >= new.Partitions()/2 {
			return nil
		}
		d.Partitions = append(d.Partitions, uint32(p))
		d.Owners = append(d.Owners, uint32(new.OwnerIndex(p)))
		if new.BackupCount() > 0 {
			idx := new.BackupIndexes(p)
			b := &nsv1.PartitionBackups{Members: make([]uint32, len(idx))}
			for i, x := range idx {
				b.Members[i] = uint32(x)
			}
			d.Backups = append(d.Backups, b)
		}
	}
	return d
}

// sameHolders reports whether partition p has the same owner and backups,
// by id, in a and b (whose members are am and bm).
func sameHolders(a, b *ring.Table, am, bm []ring.Member, p int) bool {
	if a.Owner(p).ID != b.Owner(p).ID {
		return false
	}
	ab, bb := a.BackupIndexes(p), b.BackupIndexes(p)
	if len(ab) != len(bb) {
		return false
	}
	for i := range ab {
		if am[ab[i]].ID != bm[bb[i]].ID {
			return false
		}
	}
	return true
}

// ErrDiffBase reports a TableDiff whose base is not the table at hand: the
// receiver must ask for the whole table.
var ErrDiffBase = errors.New("wire: table diff does not apply to this table")

// ApplyTableDiff applies d to base, validating every index, and checks that
// the result's hash matches the one sent.
func ApplyTableDiff(base *ring.Table, d *nsv1.TableDiff) (*ring.Table, error) {
	if base == nil || d == nil || base.Epoch() != d.GetBaseEpoch() || base.Hash() != d.GetBaseHash() {
		return nil, ErrDiffBase
	}
	byID := map[string]ring.Member{}
	for _, m := range base.Members() {
		byID[m.ID] = m
	}
	for _, id := range d.GetRemoved() {
		if _, ok := byID[id]; !ok {
			return nil, fmt.Errorf("wire: table diff removes %q, not a member", id)
		}
		delete(byID, id)
	}
	for _, m := range d.GetAdded() {
		if _, ok := byID[m.GetId()]; ok {
			return nil, fmt.Errorf("wire: table diff adds %q twice", m.GetId())
		}
		byID[m.GetId()] = ring.Member{ID: m.GetId(), Addr: m.GetGrpcAddr(), Zone: m.GetZone()}
	}
	members := make([]ring.Member, 0, len(byID))
	for _, m := range byID {
		members = append(members, m)
	}
	slices.SortFunc(members, func(a, b ring.Member) int { return strings.Compare(a.ID, b.ID) })
	index := make(map[string]int, len(members))
	for i, m := range members {
		index[m.ID] = i
	}
	at := func(id string) (int, error) {
		i, ok := index[id]
		if !ok {
			return 0, fmt.Errorf("wire: table diff leaves a partition on %q, removed", id)
		}
		return i, nil
	}
	parts := base.Partitions()
	owners := make([]int, parts)
	var backups [][]int
	if base.BackupCount() > 0 {
		backups = make([][]int, parts)
	}
	changed := make([]bool, parts)
	ps, os, bs := d.GetPartitions(), d.GetOwners(), d.GetBackups()
	if len(os) != len(ps) || (backups != nil && len(bs) != len(ps)) || (backups == nil && len(bs) != 0) {
		return nil, fmt.Errorf("wire: table diff has %d partitions, %d owners, %d backup lists", len(ps), len(os), len(bs))
	}
	for i, p := range ps {
		if int(p) >= parts || changed[p] {
			return nil, fmt.Errorf("wire: table diff names partition %d out of range or twice", p)
		}
		changed[p] = true
		owners[p] = int(os[i])
		if backups != nil {
			for _, x := range bs[i].GetMembers() {
				backups[p] = append(backups[p], int(x))
			}
		}
	}
	base2 := base.Members()
	for p := range parts {
		if changed[p] {
			continue
		}
		var err error
		if owners[p], err = at(base.Owner(p).ID); err != nil {
			return nil, err
		}
		if backups != nil {
			for _, x := range base.BackupIndexes(p) {
				i, err := at(base2[x].ID)
				if err != nil {
					return nil, err
				}
				backups[p] = append(backups[p], i)
			}
		}
	}
	cfg := ring.DefaultConfig()
	cfg.Partitions, cfg.Backups, cfg.KeyHash = parts, base.BackupCount(), base.Config().KeyHash
	t, err := ring.FromAssignment(cfg, d.GetEpoch(), members, owners, backups)
	if err != nil {
		return nil, err
	}
	if t.Hash() != d.GetHash() {
		return nil, fmt.Errorf("wire: table diff hash mismatch: sent %x, computed %x", d.GetHash(), t.Hash())
	}
	return t, nil
}
