package ring

import "slices"

// Move describes one partition whose owner or backups differ between two
// tables. IDs are member IDs; backups are listed first backup first.
type Move struct {
	// Partition is the partition that changed.
	Partition int
	// From is the old owner's ID, "" when the old table lacked the partition
	// (or there was no old table).
	From string
	// To is the new owner's ID.
	To string
	// BackupsFrom are the old backups' IDs (nil when none).
	BackupsFrom []string
	// BackupsTo are the new backups' IDs (nil when none).
	BackupsTo []string
}

// OwnerChanged reports whether the partition changes owner.
func (m Move) OwnerChanged() bool { return m.From != m.To }

// Diff returns the partitions of new whose owner or backups (including their
// order) differ in old, sorted by partition. old may be nil: then every
// partition is new. Partitions of old beyond new's count are ignored.
// Applying the moves to old's owners gives new's owners.
func Diff(old, new *Table) []Move {
	var moves []Move
	for p := range new.owners {
		to := new.members[new.owners[p]].ID
		backupsTo := ids(new, new.backups[p])
		if old == nil || p >= len(old.owners) {
			moves = append(moves, Move{Partition: p, To: to, BackupsTo: backupsTo})
			continue
		}
		from := old.members[old.owners[p]].ID
		backupsFrom := ids(old, old.backups[p])
		if from != to || !slices.Equal(backupsFrom, backupsTo) {
			moves = append(moves, Move{Partition: p, From: from, To: to, BackupsFrom: backupsFrom, BackupsTo: backupsTo})
		}
	}
	return moves
}

// ids returns the IDs of the members of t at the given indexes, nil if none.
func ids(t *Table, idx []int) []string {
	if len(idx) == 0 {
		return nil
	}
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = t.members[j].ID
	}
	return out
}
