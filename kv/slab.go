package kv

import (
	"encoding/binary"
	"fmt"
)

// Keys, values and deadlines live in pages: plain []byte the garbage
// collector does not scan. A record is 8-byte aligned and laid out as
// (little endian)
//
//	heap u32 | size u32 | deadline i64 | klen u32 | vlen u32 | key | value | spare room
//
// heap is the record's position in Store.heap plus one (0: no deadline).
// size is the record's total length, a multiple of 8, with deadBit set once
// the record is deleted or moved. The value may grow in place up to
// size-recHeader-klen bytes. deadline..value is also the record's encoding in
// a v2 snapshot, so a snapshot copies it in one piece.
//
// A record is addressed by a loc: its page number (1 or more) in the high
// bits and its offset in 8-byte units in the low offBits bits.
//
// New records are appended to the active page. A page that is no longer
// active and whose live bytes fall under half of its size is queued for
// compaction; compaction moves its live records to the active page a bounded
// number of bytes per write (see Store.compact) and then frees it. A page
// whose records are all dead is freed at once.
const (
	recHeader = 24
	hHeap     = 0
	hSize     = 4
	hDeadline = 8
	hKlen     = 16
	hVlen     = 20
	deadBit   = 1

	defaultMinPage = 4 << 10   // the first page of a store
	defaultMaxPage = 256 << 10 // pages double up to this size
	offBits        = 17        // pages up to 1 MiB
	offMask        = 1<<offBits - 1
	maxPages       = 1<<(32-offBits) - 1

	// compactMin is the compaction work (bytes moved or skipped) a write
	// does at least; a write does twice its own size more.
	compactMin = 1 << 10
	// compactTick is the compaction work of one ExpireSome call.
	compactTick = 64 << 10
)

// maxRecord bounds a record's size, which is stored as a uint32.
const maxRecord = 1 << 31

var (
	// errPagesFull is returned when a store has used all its page numbers.
	errPagesFull = fmt.Errorf("%w: a partition holds at most %d pages", ErrMemoryFull, maxPages)
	// errRecordTooLarge is returned for a key and value of 2 GiB or more.
	errRecordTooLarge = fmt.Errorf("%w: a key and value take at most 2 GiB", ErrMemoryFull)
)

// page is one slab. data is nil for a free page number.
type page struct {
	data   []byte
	used   int  // bytes allocated from the start
	live   int  // bytes of live records
	queued bool // in Store.compactQ
}

func le32(b []byte, at int) int        { return int(binary.LittleEndian.Uint32(b[at:])) }
func put32(b []byte, at int, v int)    { binary.LittleEndian.PutUint32(b[at:], uint32(v)) }
func recDeadline(r []byte) int64       { return int64(binary.LittleEndian.Uint64(r[hDeadline:])) }
func setRecDeadline(r []byte, d int64) { binary.LittleEndian.PutUint64(r[hDeadline:], uint64(d)) }
func recKey(r []byte) []byte           { return r[recHeader : recHeader+le32(r, hKlen)] }
func recValue(r []byte) []byte {
	k := recHeader + le32(r, hKlen)
	return r[k : k+le32(r, hVlen)]
}

// recCap is the most value bytes the record can hold.
func recCap(r []byte) int { return le32(r, hSize)&^deadBit - recHeader - le32(r, hKlen) }

// recSize is the size of a record for a key of klen bytes and a value of up
// to vcap bytes.
func recSize(klen, vcap int) int { return (recHeader + klen + vcap + 7) &^ 7 }

// rec returns the bytes of the page from loc on.
func (s *Store) rec(loc uint32) []byte {
	return s.pages[loc>>offBits].data[int(loc&offMask)<<3:]
}

// writeRecord fills a new record of size bytes at r. Its heap position is 0.
func writeRecord(r []byte, size int, key, value []byte, deadline int64) {
	put32(r, hHeap, 0)
	put32(r, hSize, size)
	setRecDeadline(r, deadline)
	put32(r, hKlen, len(key))
	put32(r, hVlen, len(value))
	copy(r[recHeader:], key)
	copy(r[recHeader+len(key):], value)
}

// alloc reserves size bytes (a multiple of 8) for a new record and returns
// its loc; the caller writes the record and adds size to the page's live
// bytes. Without force it fails with ErrMemoryFull when a new page would
// exceed the Limit.
func (s *Store) alloc(size int, force bool) (uint32, error) {
	if size > s.maxPage/4 {
		p, err := s.newPage(size, force)
		if err != nil {
			return 0, err
		}
		s.pages[p].used = size
		return p << offBits, nil
	}
	if a := &s.pages[s.active]; s.active != 0 && a.used+size <= len(a.data) {
		loc := s.active<<offBits | uint32(a.used>>3)
		a.used += size
		return loc, nil
	}
	n := s.minPage
	if s.active != 0 {
		n = min(2*len(s.pages[s.active].data), s.maxPage)
	}
	n = max(n, size)
	p, err := s.newPage(n, force)
	if err != nil {
		return 0, err
	}
	old := s.active
	s.active = p
	if old != 0 {
		s.checkPage(old)
	}
	s.pages[p].used = size
	return p << offBits, nil
}

// newPage takes a page number and n bytes for it.
func (s *Store) newPage(n int, force bool) (uint32, error) {
	if len(s.free) == 0 && len(s.pages) > maxPages {
		return 0, errPagesFull
	}
	var data []byte
	if n == s.maxPage && s.spare != nil {
		data, s.spare = s.spare, nil
	} else {
		if !s.acct.charge(n, force) {
			return 0, ErrMemoryFull
		}
		data = make([]byte, n)
	}
	var p uint32
	if k := len(s.free); k > 0 {
		p = s.free[k-1]
		s.free = s.free[:k-1]
	} else {
		p = uint32(len(s.pages))
		s.pages = append(s.pages, page{})
	}
	s.pages[p] = page{data: data}
	return p, nil
}

// checkPage frees page p if it holds nothing live, or queues it for
// compaction if it is mostly dead. The active page is rewound instead when
// empty; the page under compaction is left to compaction.
func (s *Store) checkPage(p uint32) {
	pg := &s.pages[p]
	switch {
	case p == s.victim:
	case p == s.active:
		if pg.live == 0 {
			pg.used = 0
		}
	case pg.live == 0:
		s.releasePage(p)
	case !pg.queued && 2*pg.live < len(pg.data):
		pg.queued = true
		s.compactQ = append(s.compactQ, p)
	}
}

// releasePage frees page p. One full-size page is kept as a spare, so a
// store that keeps compacting does not keep allocating.
func (s *Store) releasePage(p uint32) {
	pg := &s.pages[p]
	if len(pg.data) == s.maxPage && s.spare == nil {
		s.spare = pg.data
	} else {
		s.acct.uncharge(len(pg.data))
	}
	*pg = page{}
	s.free = append(s.free, p)
}

// freeRecord marks the record at loc dead. The caller has removed it from
// the index and the heap.
func (s *Store) freeRecord(loc uint32) {
	r := s.rec(loc)
	size := le32(r, hSize)
	put32(r, hSize, size|deadBit)
	p := loc >> offBits
	s.pages[p].live -= size
	s.checkPage(p)
}

// compact does up to work bytes of compaction: it walks the page under
// compaction (the victim), moving its live records to the active page, and
// frees it when done; then it takes the next queued page.
func (s *Store) compact(work int) {
	for work > 0 {
		if s.victim == 0 && !s.nextVictim() {
			return
		}
		pg := &s.pages[s.victim]
		if pg.live == 0 || s.cursor >= pg.used {
			v := s.victim
			s.victim = 0
			s.releasePage(v)
			continue
		}
		size := le32(pg.data[s.cursor:], hSize)
		if size&deadBit == 0 {
			if !s.move(s.victim<<offBits|uint32(s.cursor>>3), size) {
				return
			}
			work -= size
		}
		s.cursor += size &^ deadBit
		work -= 8
	}
}

// nextVictim takes the next queued page still worth compacting.
func (s *Store) nextVictim() bool {
	for k := len(s.compactQ); k > 0; k = len(s.compactQ) {
		p := s.compactQ[k-1]
		s.compactQ = s.compactQ[:k-1]
		pg := &s.pages[p]
		pg.queued = false
		if pg.data == nil || p == s.active || 2*pg.live >= len(pg.data) {
			continue
		}
		s.victim, s.cursor = p, 0
		return true
	}
	return false
}

// move copies the live record at loc (size bytes) to a new place and points
// the index and the heap at it. It reports false if no page could be had.
func (s *Store) move(loc uint32, size int) bool {
	nloc, err := s.alloc(size, true)
	if err != nil {
		return false
	}
	r, nr := s.rec(loc), s.rec(nloc)
	copy(nr[:size], r[:size])
	h := hashKey(recKey(nr))
	s.setSlot(s.slotOf(h, loc), h, nloc)
	if h := le32(nr, hHeap); h != 0 {
		s.heap[h-1] = nloc
	}
	s.pages[nloc>>offBits].live += size
	put32(r, hSize, size|deadBit)
	s.pages[loc>>offBits].live -= size
	return true
}
