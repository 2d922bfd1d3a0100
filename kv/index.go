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
//
// Growing never stalls a call: a table past 3/4 full is replaced by one
// twice its size, and the entries of the old one move over incrementally,
// at least migrateStep slots per write (see migrate). Meanwhile a lookup
// searches the new table, then the old; inserts go to the new table; an
// entry deleted from the old table leaves a tombstone there (the old table
// is never back-shifted, so the migration cursor stays valid). Migration
// starts at an empty slot and stops only at one, so it moves whole clusters
// (runs of full slots, which no probe crosses) and can empty the slots
// behind it: probes in the old table stay as short as they were. Because
// the old table is at most 3/4 full and a write migrates many slots, it is
// emptied long before the new one could fill.
//
// A slot number names a slot of either table: i >= 0 is table[i], i <= -2
// is old[-i-2]; -1 means no slot (an empty store).
const (
	locMask     = 1<<32 - 1
	tombstone   = 1 << 32 // tag 1, loc 0: no entry has it
	minTable    = 16
	maxLoadNum  = 3 // grow past 3/4 full
	maxLoadDen  = 4
	slotBytes   = 8
	heapEntrySz = 4
	migrateStep = 64
)

func hashKey(key []byte) uint64 { return xxhash.Sum64(key) }

// lookup returns the slot and loc of key. When key is absent it returns the
// slot of the new table where it would be inserted (-1 when there is no
// table yet).
func (s *Store) lookup(h uint64, key []byte) (int, uint32, bool) {
	i, loc, ok := s.probe(s.table, h, key)
	if ok || s.old == nil {
		return i, loc, ok
	}
	if j, loc, ok := s.probe(s.old, h, key); ok {
		return -j - 2, loc, true
	}
	return i, 0, false
}

// probe searches t for key; when absent it returns the first empty slot.
func (s *Store) probe(t []uint64, h uint64, key []byte) (int, uint32, bool) {
	if len(t) == 0 {
		return -1, 0, false
	}
	mask := len(t) - 1
	tag := h &^ locMask
	for i := int(h>>32) & mask; ; i = (i + 1) & mask {
		sl := t[i]
		if sl == 0 {
			return i, 0, false
		}
		if sl&^locMask == tag && sl != tombstone {
			loc := uint32(sl)
			if bytes.Equal(recKey(s.rec(loc)), key) {
				return i, loc, true
			}
		}
	}
}

// slotOf returns the slot holding loc, whose key hashes to h.
func (s *Store) slotOf(h uint64, loc uint32) int {
	if i := find(s.table, h, loc); i >= 0 {
		return i
	}
	return -find(s.old, h, loc) - 2
}

// find returns the slot of t holding loc (key hash h), or -1.
func find(t []uint64, h uint64, loc uint32) int {
	if len(t) == 0 {
		return -1
	}
	mask := len(t) - 1
	for i := int(h>>32) & mask; t[i] != 0; i = (i + 1) & mask {
		if uint32(t[i]) == loc && t[i] != tombstone {
			return i
		}
	}
	return -1
}

// setSlot points slot i at loc, for a key of hash h.
func (s *Store) setSlot(i int, h uint64, loc uint32) {
	v := h&^locMask | uint64(loc)
	if i >= 0 {
		s.table[i] = v
	} else {
		s.old[-i-2] = v
	}
}

// deleteSlot empties slot i.
func (s *Store) deleteSlot(i int) {
	if i >= 0 {
		s.tableDelete(i)
	} else {
		s.old[-i-2] = tombstone
	}
}

// needGrow reports whether one more key would overfill the table.
func (s *Store) needGrow() bool {
	return (s.count+1)*maxLoadDen > len(s.table)*maxLoadNum
}

// grow replaces the table by one twice its size (or creates it) and starts
// migrating the entries over. force charges the Limit even past its
// maximum.
func (s *Store) grow(force bool) error {
	if s.old != nil {
		// Not reached: migration ends long before the table fills again.
		s.migrate(len(s.old))
	}
	n := max(minTable, 2*len(s.table))
	if !s.acct.charge(n*slotBytes, force) {
		return ErrMemoryFull
	}
	if len(s.table) > 0 {
		s.old, s.migrated, s.mstart = s.table, 0, 0
		for s.old[s.mstart] != 0 {
			s.mstart++ // there is an empty slot: the table is at most 3/4 full
		}
	}
	s.table = make([]uint64, n)
	s.migrate(migrateStep)
	return nil
}

// migrate moves the entries of at least n slots of the old table to the
// new one, going on to the end of the cluster it is in, and drops the old
// table once it is done.
func (s *Store) migrate(n int) {
	if s.old == nil {
		return
	}
	mask, omask := len(s.table)-1, len(s.old)-1
	for ; s.migrated < len(s.old); s.migrated++ {
		o := (s.mstart + s.migrated) & omask
		sl := s.old[o]
		if sl == 0 && n <= 0 {
			return
		}
		n--
		if sl == 0 || sl == tombstone {
			s.old[o] = 0
			continue
		}
		i := int(sl>>32) & mask
		for s.table[i] != 0 {
			i = (i + 1) & mask
		}
		s.table[i] = sl
		s.old[o] = 0
	}
	s.acct.uncharge(len(s.old) * slotBytes)
	s.old, s.migrated = nil, 0
}

// tableDelete empties slot i of the new table, shifting back the entries
// after it that would otherwise become unreachable.
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

// Prefetcher loads, for a batch of keys, the index slots and records their
// operations will touch, before the first operation runs: the cache misses
// of a batch then overlap instead of stalling each operation in turn. It
// loads in stages, each a tight loop over the batch (every key's slot,
// then every record's head, then every value's end), because a loop that
// loaded one key's slot and then its record would wait on the one before
// moving on to the next key: the CPU issues independent loads together
// only when they are a few instructions apart. It changes nothing in the
// stores. The zero value is ready; Add keys, then Run.
type Prefetcher struct {
	n    int
	st   [PrefetchBatch]*Store
	h    [PrefetchBatch]uint64
	recs [PrefetchBatch][]byte
	sum  uint64 // what was loaded, so that the loads stay
}

// PrefetchBatch is how many keys a Prefetcher holds; Add runs a full batch.
const PrefetchBatch = 32

// prefetchProbe is how many slots from its home a key's record is looked
// for by a Prefetcher.
const prefetchProbe = 8

// Add queues key of store s, running the batch when it is full.
func (p *Prefetcher) Add(s *Store, key []byte) {
	if len(s.table) == 0 {
		return
	}
	p.st[p.n], p.h[p.n] = s, hashKey(key)
	p.n++
	if p.n == PrefetchBatch {
		p.Run()
	}
}

// Run loads what the queued keys will touch and empties the batch. What it
// loaded is added to the Prefetcher's sum, so that the loads are not
// optimized away.
func (p *Prefetcher) Run() {
	n := p.n
	p.n = 0
	var sum uint64
	for i := range n { // the home slots
		t := p.st[i].table
		sum += t[int(p.h[i]>>32)&(len(t)-1)]
	}
	for i := range n { // the records' heads: the first slot from home with the key's tag
		p.recs[i] = nil
		t, tag := p.st[i].table, p.h[i]&^locMask
		mask := len(t) - 1
		j := int(p.h[i]>>32) & mask
		// Linear probing at up to 3/4 full: about half the keys are not
		// in their home slot, but a few slots on, mostly in the same
		// cache line (loaded above).
		for range prefetchProbe {
			sl := t[j]
			if sl == 0 {
				break
			}
			if sl&^locMask == tag && sl != tombstone {
				r := p.st[i].rec(uint32(sl))
				p.recs[i] = r
				sum += uint64(r[0])
				break
			}
			j = (j + 1) & mask
		}
	}
	for i := range n { // the values' ends, often a cache line further
		if r := p.recs[i]; r != nil {
			if end := recHeader + le32(r, hKlen) + le32(r, hVlen); end > recHeader && end <= len(r) {
				sum += uint64(r[end-1])
			}
			p.recs[i] = nil
		}
	}
	for i := range n {
		p.st[i] = nil
	}
	p.sum += sum
}
