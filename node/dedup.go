package node

import (
	"bytes"
	"runtime"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// dedup remembers the results of recent writes that carried a request id,
// so a retried write takes effect once. It is bounded: the oldest ids are
// forgotten first (evicted) once it holds dedupSize of them.
//
// Its entries count in the node's memory budget (--max-memory, memory.go)
// like KV data: each has a size estimate (entryBytes) charged to the
// node's kv.Limit when it is added and given back when it is replaced or
// evicted. A table that is dropped (a partition released after a handoff, a
// backup copy no longer needed, a copy recovery did not keep) gives its
// charge back when the garbage collector frees it, as a dropped kv.Store
// does: copies of a dedup share one table, so no holder can tell it is the
// last.
//
// The zero dedup is empty; the first reserve or put makes its table. Only
// the worker that owns the partition touches it.
type dedup struct{ t *dedupTable }

// dedupTable is a ring of up to dedupSize slots in insertion order, found
// by id through an open-addressing index (linear probing) of slot numbers:
// no Go map, and a lookup touches one small array of uint16s.
type dedupTable struct {
	slots []dedupSlot // the ring; it grows to dedupSize, then wraps
	next  int         // once the ring is full, its oldest slot
	// index holds slot number + 1 (0: empty) at the position of the id's
	// hash, or after it; its length is a power of two, at least twice the
	// slots held.
	index []uint16
	acct  *dedupAccount
	// missed is the last id get did not find, if missedOK: put of it needs
	// no lookup (the owner looks an id up, then puts it). Any put clears it.
	missed   uint64
	missedOK bool
}

type dedupSlot struct {
	id uint64
	e  dedupEntry
}

// dedupAccount is what a table has charged to its Limit. It is kept apart
// from the table so that the cleanup of a dropped table can credit it.
type dedupAccount struct {
	limit    *kv.Limit
	held     int64 // bytes charged for the entries held
	reserved int64 // bytes charged by reserve for the next put
}

func releaseDedup(a *dedupAccount) { a.limit.Release(a.held + a.reserved) }

type dedupEntry struct {
	lsn  uint64
	code int32
	size int32 // the entry's size estimate, charged to the Limit
	// payload is the result's payload. put keeps a copy of its own, inline
	// (inl) when it is short, as a put's or an incr's is, so the entry
	// never keeps alive the chunk the result was carved from (kvOwner).
	payload []byte
	inl     [dedupInline]byte
	inlLen  uint8
	now     int64
	item    *nsv1.Item // the write as applied, to re-replicate on a retry
}

// dedupInline is the longest result payload an entry keeps inline.
const dedupInline = 15

// result returns e's result payload; an inline one is copied (only a retry
// needs it).
func (e *dedupEntry) result() []byte {
	if e.payload != nil || e.inlLen == 0 {
		return e.payload
	}
	return bytes.Clone(e.inl[:e.inlLen])
}

// resultLen is the length of e's result payload.
func (e *dedupEntry) resultLen() int {
	if e.payload != nil {
		return len(e.payload)
	}
	return int(e.inlLen)
}

// dedupSize bounds the request ids each partition remembers.
const dedupSize = 1024

// Size estimates of a dedup entry, in bytes: dedupOverhead for its slot
// (id and dedupEntry, 80 bytes) and its share of the index and of the
// ring's spare room; dedupItemOverhead for the retained nsv1.Item's struct
// (120 bytes, in a 128-byte size class), to which its service name, key
// and payload are added; then a result payload too long to be inline.
const (
	dedupOverhead     = 112
	dedupItemOverhead = 128
)

// dedupItemBytes is the estimate of an entry for it, before its result is
// known.
func dedupItemBytes(it *nsv1.Item) int64 {
	if it == nil {
		return dedupOverhead
	}
	return dedupOverhead + dedupItemOverhead + int64(len(it.GetService())+len(it.GetKey())+len(it.GetPayload()))
}

// entryBytes is the estimate of e.
func entryBytes(e *dedupEntry) int64 {
	if e.payload == nil {
		return dedupItemBytes(e.item) // inline, in the overhead
	}
	return dedupItemBytes(e.item) + int64(len(e.payload))
}

// init makes d's table, charging lim.
func (d *dedup) init(lim *kv.Limit) {
	if d.t != nil {
		return
	}
	t := &dedupTable{
		slots: make([]dedupSlot, 0, 16),
		index: make([]uint16, 32),
		acct:  &dedupAccount{limit: lim},
	}
	runtime.AddCleanup(t, releaseDedup, t.acct)
	d.t = t
}

// home is the index position where a probe for id starts.
func (t *dedupTable) home(id uint64) int {
	return int((id * 0x9e3779b97f4a7c15) >> 32 & uint64(len(t.index)-1))
}

// find returns the index position holding id's slot, or -1.
func (t *dedupTable) find(id uint64) int {
	mask := len(t.index) - 1
	for i := t.home(id); ; i = (i + 1) & mask {
		v := t.index[i]
		if v == 0 {
			return -1
		}
		if t.slots[v-1].id == id {
			return i
		}
	}
}

// link indexes slot s, whose id the index does not hold.
func (t *dedupTable) link(s int) {
	mask := len(t.index) - 1
	i := t.home(t.slots[s].id)
	for t.index[i] != 0 {
		i = (i + 1) & mask
	}
	t.index[i] = uint16(s + 1)
}

// unlink removes index position i, moving later entries of its probe run
// back so that every id stays reachable from its home.
func (t *dedupTable) unlink(i int) {
	mask := len(t.index) - 1
	for j := (i + 1) & mask; t.index[j] != 0; j = (j + 1) & mask {
		h := t.home(t.slots[t.index[j]-1].id)
		// The entry at j may fill the hole at i unless its home lies
		// cyclically in (i, j].
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.index[i] = t.index[j]
			i = j
		}
	}
	t.index[i] = 0
}

// grow doubles the index and indexes every slot again.
func (t *dedupTable) grow() {
	t.index = make([]uint16, 2*len(t.index))
	for s := range t.slots {
		t.link(s)
	}
}

func (d *dedup) get(id uint64) (dedupEntry, bool) {
	if d.t == nil {
		return dedupEntry{}, false
	}
	t := d.t
	i := t.find(id)
	if i < 0 {
		t.missed, t.missedOK = id, true
		return dedupEntry{}, false
	}
	return t.slots[t.index[i]-1].e, true
}

// len returns the number of ids d remembers.
func (d *dedup) len() int {
	if d.t == nil {
		return 0
	}
	return len(d.t.slots)
}

// each calls fn with every id d remembers and its entry, oldest first.
func (d *dedup) each(fn func(id uint64, e *dedupEntry)) {
	if d.t == nil {
		return
	}
	t := d.t
	for i := range t.slots {
		s := &t.slots[(t.next+i)%len(t.slots)]
		fn(s.id, &s.e)
	}
}

// bytes returns what d has charged to its Limit.
func (d *dedup) bytes() int64 {
	if d.t == nil {
		return 0
	}
	return d.t.acct.held + d.t.acct.reserved
}

// evicted returns the size of the entry a put of a new id would evict, 0
// if none.
func (t *dedupTable) evicted() int64 {
	if len(t.slots) < dedupSize {
		return 0
	}
	return int64(t.slots[t.next].e.size)
}

// reserve charges lim, ahead of the write, for a coming put of an entry of
// size bytes for an id d does not hold, net of the entry that put will
// evict; put charges the rest. Without force it reports false, charging
// nothing, when lim cannot hold it. Every reserve is followed by a put or
// an unreserve.
func (d *dedup) reserve(lim *kv.Limit, size int64, force bool) bool {
	d.init(lim)
	a := d.t.acct
	need := size - d.t.evicted()
	if need <= 0 {
		return true
	}
	if !a.limit.Charge(need, force) {
		return false
	}
	a.reserved += need
	return true
}

// unreserve gives back what reserve charged: the put will not happen.
func (d *dedup) unreserve() {
	if d.t == nil {
		return
	}
	a := d.t.acct
	a.limit.Release(a.reserved)
	a.reserved = 0
}

// put remembers e for id, charging lim (never refused: the write it
// records was applied) what reserve did not. A short e.payload is copied
// inline; a longer one is kept as it is if own (the caller gives it up),
// else copied: the caller may share it (a result carved from a chunk).
func (d *dedup) put(lim *kv.Limit, id uint64, e dedupEntry, own bool) {
	d.init(lim)
	t, a := d.t, d.t.acct
	switch {
	case len(e.payload) <= dedupInline:
		e.inlLen = uint8(copy(e.inl[:], e.payload))
		e.payload = nil
	case !own:
		e.payload = bytes.Clone(e.payload)
	}
	e.size = int32(min(entryBytes(&e), 1<<31-1))
	at := -1 // index position of id, if held
	if !t.missedOK || t.missed != id {
		at = t.find(id)
	}
	t.missedOK = false
	leaving := t.evicted()
	if at >= 0 {
		leaving = int64(t.slots[t.index[at]-1].e.size)
	}
	delta := int64(e.size) - leaving // what the table grows by
	switch more := delta - a.reserved; {
	case more > 0:
		a.limit.Charge(more, true)
	case more < 0:
		a.limit.Release(-more)
	}
	a.held += delta
	a.reserved = 0
	switch {
	case at >= 0:
		// Replaced: its slot keeps its place in the ring.
		t.slots[t.index[at]-1].e = e
	case len(t.slots) < dedupSize:
		t.slots = append(t.slots, dedupSlot{id, e})
		if 2*len(t.slots) > len(t.index) {
			t.grow()
		} else {
			t.link(len(t.slots) - 1)
		}
	default:
		t.unlink(t.find(t.slots[t.next].id))
		t.slots[t.next] = dedupSlot{id, e}
		t.link(t.next)
		t.next = (t.next + 1) % dedupSize
	}
}
