package kv

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"time"
)

// Config configures a Store. The zero Config is valid and means the
// defaults.
type Config struct {
	// Limit, when not nil, is the memory budget the store charges its pages,
	// index and expiry heap to; several stores may share one. A write that
	// would exceed it fails with ErrMemoryFull. nil means no limit.
	Limit *Limit

	// SnapshotVersion is the format Snapshot writes: 1 (0 means 1), which
	// every release reads, or 2, which only releases with the slab store
	// read. Restore reads both. See docs/durability.md for the upgrade
	// order before turning 2 on.
	SnapshotVersion int
}

// DefaultConfig returns the default configuration: no memory limit,
// snapshots in format v1.
func DefaultConfig() Config { return Config{SnapshotVersion: snapV1} }

func (c *Config) validate() error {
	switch c.SnapshotVersion {
	case 0, snapV1, snapV2:
		return nil
	}
	return fmt.Errorf("kv: SnapshotVersion %d: want 1 or 2", c.SnapshotVersion)
}

// Store is the state of one partition of the key-value/counter service.
//
// A Store is not safe for concurrent use: exactly one worker owns it and calls
// every method, Snapshot included, which is what makes a snapshot consistent.
// It has no goroutines and reads no clock: every method that depends on time
// takes it as an argument. The zero Store is not usable; call NewStore or New.
//
// Its keys, values and deadlines live in pages of plain bytes found through a
// pointer-free hash index (see slab.go and index.go), so the garbage
// collector does not scan them, and operations on existing keys allocate
// nothing.
type Store struct {
	cfg  Config
	acct *account

	pages  []page   // pages[0] is never used: no loc is 0
	free   []uint32 // page numbers to reuse
	spare  []byte   // a freed full-size page kept for the next one
	active uint32   // the page new records go to; 0 before the first

	minPage, maxPage int // page sizes; maxPage/4 and more get a page each

	compactQ []uint32 // pages waiting for compaction
	victim   uint32   // the page being compacted, 0 for none
	cursor   int      // offset of the next record of victim to look at

	table    []uint64 // the index: tag<<32 | loc
	old      []uint64 // the table before the last growth, while its entries move over
	mstart   int      // the empty slot of old where migration started
	migrated int      // slots of old from mstart on already moved
	count    int      // keys held
	heap     []uint32 // locs of the records with a deadline, by deadline

	granted bool // a write in progress may exceed the Limit (HandleReplay)
}

// NewStore returns an empty Store with the default configuration.
func NewStore() *Store {
	s, _ := New(DefaultConfig())
	return s
}

// New returns an empty Store configured by cfg.
func New(cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := newStore(cfg, defaultMinPage, defaultMaxPage)
	if cfg.Limit != nil {
		runtime.AddCleanup(s, releaseAccount, s.acct)
	}
	return s, nil
}

// newStore returns an empty store with pages from minPage to maxPage bytes
// (multiples of 8, at most 1<<offBits*8).
func newStore(cfg Config, minPage, maxPage int) *Store {
	return &Store{
		cfg:     cfg,
		acct:    &account{limit: cfg.Limit},
		pages:   make([]page, 1),
		minPage: minPage,
		maxPage: maxPage,
	}
}

// Len returns the number of keys held, including expired keys that have not
// been removed yet (by access or ExpireSome).
func (s *Store) Len() int { return s.count }

// Bytes returns the memory the store holds for its data: its pages (live
// records, records not compacted away yet, free room, one spare page), its
// index and its expiry heap. It is what the store charges its Limit. Like
// Len it counts expired keys not yet removed.
func (s *Store) Bytes() int { return int(s.acct.held) }

// Reset removes every key and gives back all the store's memory.
func (s *Store) Reset() {
	releaseAccount(s.acct)
	ns := newStore(s.cfg, s.minPage, s.maxPage)
	ns.acct = s.acct
	*s = *ns
}

// Apply runs one request at time now and returns its response. Errors:
// ErrNotFound (get of an absent or expired key), ErrNotInteger and ErrOverflow
// (incr), ErrInvalidTTL (put or cas with a negative TTL), ErrUnknownOp,
// ErrMemoryFull (a write that needs memory its Limit does not have). A
// failed request changes nothing (beyond removing expired keys it touched).
//
// Apply copies the bytes it keeps, so the caller may reuse req's buffers, and
// the Value it returns is a copy the caller owns.
func (s *Store) Apply(now time.Time, req *Request) (Response, error) {
	resp, err := s.apply(now.UnixNano(), req)
	if resp.Value != nil {
		resp.Value = bytes.Clone(resp.Value)
	}
	return resp, err
}

// Handle decodes a request encoded by Request.AppendBinary, applies it at
// time now, and returns the encoded Response. Decode errors wrap ErrCorrupt;
// the errors of Apply are returned as they are. It is the entry point of the
// generic service path.
func (s *Store) Handle(now time.Time, payload []byte) ([]byte, error) {
	out, err := s.HandleAppend(nil, now, payload)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HandleAppend is Handle appending the encoded response to dst, so that a
// caller with a reusable buffer allocates nothing. On error dst is returned
// unchanged.
func (s *Store) HandleAppend(dst []byte, now time.Time, payload []byte) ([]byte, error) {
	req, err := DecodeRequest(payload)
	if err != nil {
		return dst, err
	}
	resp, err := s.apply(now.UnixNano(), &req)
	if err != nil {
		return dst, err
	}
	// resp.Value aliases the stored value; it is encoded before anything
	// can change it.
	return resp.AppendBinary(dst)
}

// HandleReplay is Handle for a copy that replays writes an owner already
// accepted (a backup, a log replayed at restart): a write is always granted
// the memory it needs, even past the Limit, as Restore is, so the copy never
// diverges from its owner for lack of memory. Only an owner's Handle refuses
// writes with ErrMemoryFull. Its other errors are Handle's.
func (s *Store) HandleReplay(now time.Time, payload []byte) ([]byte, error) {
	s.granted = true
	defer func() { s.granted = false }()
	return s.Handle(now, payload)
}

// apply runs req at now (unix nanoseconds). The returned Value aliases the
// stored value. Writes first do a bounded amount of compaction, so that no
// record moves between apply and the encoding of its response.
func (s *Store) apply(now int64, req *Request) (Response, error) {
	switch req.Op {
	case OpGet:
		_, loc, ok := s.find(hashKey(req.Key), req.Key, now)
		if !ok {
			return Response{}, ErrNotFound
		}
		r := s.rec(loc)
		resp := Response{Found: true, Value: recValue(r)}
		if d := recDeadline(r); d != 0 {
			resp.TTL = time.Duration(d - now)
		}
		return resp, nil

	case OpPut:
		if req.TTL < 0 {
			return Response{}, ErrInvalidTTL
		}
		s.housekeep(compactMin + 2*(len(req.Key)+len(req.Value)))
		h := hashKey(req.Key)
		i, loc, ok := s.lookup(h, req.Key)
		_, err := s.store(h, i, loc, ok, req.Key, req.Value, deadlineAt(now, req.TTL), 0)
		return Response{}, err

	case OpDelete:
		i, loc, ok := s.find(hashKey(req.Key), req.Key, now)
		if ok {
			s.remove(i, loc)
		}
		return Response{Found: ok}, nil

	case OpIncr:
		s.housekeep(compactMin + 2*len(req.Key))
		h := hashKey(req.Key)
		i, loc, ok := s.find(h, req.Key, now)
		var buf [maxCounterLen]byte
		if !ok {
			v := strconv.AppendInt(buf[:0], req.Delta, 10)
			if _, err := s.store(h, i, loc, false, req.Key, v, 0, maxCounterLen); err != nil {
				return Response{}, err
			}
			return Response{Counter: req.Delta}, nil
		}
		r := s.rec(loc)
		n, ok := parseCounter(recValue(r))
		if !ok {
			return Response{}, ErrNotInteger
		}
		n, ok = addCounter(n, req.Delta)
		if !ok {
			return Response{}, ErrOverflow
		}
		v := strconv.AppendInt(buf[:0], n, 10)
		if _, err := s.store(h, i, loc, true, req.Key, v, recDeadline(r), maxCounterLen); err != nil {
			return Response{}, err
		}
		return Response{Counter: n}, nil

	case OpCompareAndSwap:
		if req.TTL < 0 {
			return Response{}, ErrInvalidTTL
		}
		s.housekeep(compactMin + 2*(len(req.Key)+len(req.Value)))
		h := hashKey(req.Key)
		i, loc, ok := s.find(h, req.Key, now)
		var swap bool
		if req.ExpectAbsent {
			swap = !ok
		} else {
			swap = ok && bytes.Equal(recValue(s.rec(loc)), req.Expected)
		}
		if !swap {
			if !ok {
				return Response{}, nil
			}
			return Response{Found: true, Value: recValue(s.rec(loc))}, nil
		}
		loc, err := s.store(h, i, loc, ok, req.Key, req.Value, deadlineAt(now, req.TTL), 0)
		if err != nil {
			return Response{}, err
		}
		return Response{Found: true, Swapped: true, Value: recValue(s.rec(loc))}, nil
	}
	return Response{}, ErrUnknownOp
}

// housekeep does the bounded background work of a write: work bytes of
// compaction and migrateStep slots of index migration.
func (s *Store) housekeep(work int) {
	if s.victim != 0 || len(s.compactQ) > 0 {
		s.compact(work)
	}
	if s.old != nil {
		s.migrate(migrateStep)
	}
}

// deadlineAt returns the deadline of a value written at now with ttl: 0 for
// no expiry, saturating at the largest representable time.
func deadlineAt(now int64, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	if now > 0 && int64(ttl) > math.MaxInt64-now {
		return math.MaxInt64
	}
	d := now + int64(ttl)
	if d == 0 {
		// 0 means "never"; only reachable with a clock before 1970.
		d = 1
	}
	return d
}

// find is lookup that treats a key expired at now as absent and removes it
// (lazy expiry). Like lookup, for an absent key it returns the slot to
// insert it at.
func (s *Store) find(h uint64, key []byte, now int64) (int, uint32, bool) {
	i, loc, ok := s.lookup(h, key)
	if !ok {
		return i, 0, false
	}
	if d := recDeadline(s.rec(loc)); d != 0 && now >= d {
		s.remove(i, loc)
		i, _, _ = s.lookup(h, key)
		return i, 0, false
	}
	return i, loc, true
}

// store writes key's value and deadline. found, slot and loc are what
// lookup returned for key (hash h). The record keeps room for a value of
// minCap bytes. A value that fits the record is written in place; otherwise
// the record moves to a new place. It fails only with errors wrapping
// ErrMemoryFull, and then changes nothing.
func (s *Store) store(h uint64, slot int, loc uint32, found bool, key, value []byte, deadline int64, minCap int) (uint32, error) {
	vcap := max(len(value), minCap)
	if len(key)+vcap >= maxRecord-recHeader-8 {
		return 0, errRecordTooLarge
	}
	if found {
		r := s.rec(loc)
		if c := recCap(r); len(value) <= c && c <= 2*vcap+32 {
			copy(r[recHeader+len(key):], value)
			put32(r, hVlen, len(value))
			s.setDeadline(loc, deadline)
			return loc, nil
		}
	} else if s.needGrow() {
		if err := s.grow(s.granted); err != nil {
			return 0, err
		}
		slot, _, _ = s.lookup(h, key)
	}
	size := recSize(len(key), vcap)
	nloc, err := s.alloc(size, s.granted)
	if err != nil {
		return 0, err
	}
	nr := s.rec(nloc)
	writeRecord(nr, size, key, value, 0)
	s.pages[nloc>>offBits].live += size
	s.setSlot(slot, h, nloc)
	if found {
		// The new record takes the old one's place in the heap.
		r := s.rec(loc)
		if hp := le32(r, hHeap); hp != 0 {
			put32(nr, hHeap, hp)
			setRecDeadline(nr, recDeadline(r))
			s.heap[hp-1] = nloc
		}
		s.freeRecord(loc)
	} else {
		s.count++
	}
	s.setDeadline(nloc, deadline)
	return nloc, nil
}

// remove deletes the key in slot i, whose record is at loc.
func (s *Store) remove(i int, loc uint32) {
	s.deleteSlot(i)
	if h := le32(s.rec(loc), hHeap); h != 0 {
		s.heapRemove(h - 1)
	}
	s.freeRecord(loc)
	s.count--
}

// ExpireSome removes up to max keys whose deadline is at or before now, the
// earliest first, and returns how many it removed. Its work is bounded by max
// (O(max log n)), so a worker can call it between batches; keys are also
// removed lazily when accessed after their deadline. It also does a bounded
// step of compaction (at most compactTick bytes moved).
func (s *Store) ExpireSome(now time.Time, max int) int {
	t := now.UnixNano()
	n := 0
	for n < max && len(s.heap) > 0 && s.heapDeadline(0) <= t {
		loc := s.heap[0]
		s.remove(s.slotOf(hashKey(recKey(s.rec(loc))), loc), loc)
		n++
	}
	s.compact(compactTick)
	s.migrate(compactTick / slotBytes)
	return n
}

// NextDeadline returns the earliest deadline of any key, and false when no
// key has one. A worker can use it to schedule its next ExpireSome.
func (s *Store) NextDeadline() (time.Time, bool) {
	if len(s.heap) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, s.heapDeadline(0)), true
}

// Range calls fn for every key held, in no particular order, until fn
// returns false. deadline is the zero Time for a key that does not expire.
// Expired keys not yet removed are included; compare deadline with the
// current time to skip them. key is a copy; value aliases the store and is
// valid only during the call. fn must not modify the store.
func (s *Store) Range(fn func(key, value []byte, deadline time.Time) bool) {
	s.records(func(r []byte) bool {
		var d time.Time
		if dl := recDeadline(r); dl != 0 {
			d = time.Unix(0, dl)
		}
		return fn(bytes.Clone(recKey(r)), recValue(r), d)
	})
}

// records calls fn with every live record, page by page, until fn returns
// false.
func (s *Store) records(fn func(r []byte) bool) {
	for p := range s.pages {
		pg := &s.pages[p]
		if pg.live == 0 {
			continue
		}
		for off := 0; off < pg.used; {
			r := pg.data[off:]
			size := le32(r, hSize)
			if size&deadBit == 0 && !fn(r) {
				return
			}
			off += size &^ deadBit
		}
	}
}
