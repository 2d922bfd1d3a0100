package kv

import (
	"bytes"

	"github.com/cespare/xxhash/v2"
)

// The index is an open-addressing hash table with linear probing: a
// []uint64 (no pointers, so the garbage collector does not scan it) whose
// slots hold tag<<32 | loc, 0 for empty (no loc is 0: page numbers start at
// 1). tag is the high 32 bits of the key's xxhash; a key's home slot is tag
// modulo the table size, so the table can be resized and its deletions
// back-shifted from the tags alone. A lookup compares tags first and key
// bytes (in the page) only on a tag match.
const (
	locMask     = 1<<32 - 1
	minTable    = 16
	maxLoadNum  = 3 // grow past 3/4 full
	maxLoadDen  = 4
	slotBytes   = 8
	heapEntrySz = 4
)

func hashKey(key []byte) uint64 { return xxhash.Sum64(key) }

// lookup returns the slot and loc of key. When key is absent it returns the
// empty slot where it would be inserted (-1 when the table is empty).
func (s *Store) lookup(h uint64, key []byte) (int, uint32, bool) {
	if len(s.table) == 0 {
		return -1, 0, false
	}
	mask := len(s.table) - 1
	tag := h &^ locMask
	for i := int(h>>32) & mask; ; i = (i + 1) & mask {
		sl := s.table[i]
		if sl == 0 {
			return i, 0, false
		}
		if sl&^locMask == tag {
			loc := uint32(sl)
			if bytes.Equal(recKey(s.rec(loc)), key) {
				return i, loc, true
			}
		}
	}
}

// slotOf returns the slot holding loc, whose key hashes to h.
func (s *Store) slotOf(h uint64, loc uint32) int {
	mask := len(s.table) - 1
	for i := int(h>>32) & mask; ; i = (i + 1) & mask {
		if uint32(s.table[i]) == loc {
			return i
		}
	}
}

// needGrow reports whether one more key would overfill the table.
func (s *Store) needGrow() bool {
	return (s.count+1)*maxLoadDen > len(s.table)*maxLoadNum
}

// grow doubles the table (or creates it). force charges the Limit even past
// its maximum.
func (s *Store) grow(force bool) error {
	n := max(minTable, 2*len(s.table))
	if !s.acct.charge(n*slotBytes, force) {
		return ErrMemoryFull
	}
	old := s.table
	s.table = make([]uint64, n)
	mask := n - 1
	for _, sl := range old {
		if sl == 0 {
			continue
		}
		i := int(sl>>32) & mask
		for s.table[i] != 0 {
			i = (i + 1) & mask
		}
		s.table[i] = sl
	}
	s.acct.uncharge(len(old) * slotBytes)
	return nil
}

// tableDelete empties slot i, shifting back the entries after it that
// would otherwise become unreachable.
func (s *Store) tableDelete(i int) {
	mask := len(s.table) - 1
	for j := (i + 1) & mask; s.table[j] != 0; j = (j + 1) & mask {
		home := int(s.table[j]>>32) & mask
		// The entry at j may move to i unless its home lies cyclically in (i, j].
		if (i < j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
			s.table[i] = s.table[j]
			i = j
		}
	}
	s.table[i] = 0
}
