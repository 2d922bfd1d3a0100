package kv

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// entryOverhead approximates the memory a key costs beyond its key and value
// bytes: its entry, its map slot and its place in the expiry heap.
const entryOverhead = 96

// entry is one key. Entries live in Store.entries; Store.index maps a key to
// its position there.
type entry struct {
	key      string
	value    []byte
	deadline int64 // unix nanoseconds at which the key expires; 0 = never
	hidx     int   // position in Store.heap; -1 when deadline is 0
}

// Store is the state of one partition of the key-value/counter service.
//
// A Store is not safe for concurrent use: exactly one worker owns it and calls
// every method, Snapshot included, which is what makes a snapshot consistent.
// It has no goroutines and reads no clock: every method that depends on time
// takes it as an argument. The zero Store is not usable; call NewStore.
type Store struct {
	index   map[string]int // key -> position in entries
	entries []entry        // dense, unordered; removal swaps the last one in
	heap    []int          // min-heap of positions in entries, by deadline
	bytes   int            // see Bytes
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return newStore(0)
}

func newStore(capacity int) *Store {
	return &Store{
		index:   make(map[string]int, capacity),
		entries: make([]entry, 0, capacity),
	}
}

// Len returns the number of keys held, including expired keys that have not
// been removed yet (by access or ExpireSome).
func (s *Store) Len() int { return len(s.entries) }

// Bytes returns the approximate memory held by the store's keys and values:
// their bytes plus a fixed per-key overhead. Like Len it counts expired keys
// not yet removed.
func (s *Store) Bytes() int { return s.bytes }

// Reset removes every key.
func (s *Store) Reset() { *s = *NewStore() }

// Apply runs one request at time now and returns its response. Errors:
// ErrNotFound (get of an absent or expired key), ErrNotInteger and ErrOverflow
// (incr), ErrInvalidTTL (put or cas with a negative TTL), ErrUnknownOp. A
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

// apply runs req at now (unix nanoseconds). The returned Value aliases the
// stored value.
func (s *Store) apply(now int64, req *Request) (Response, error) {
	switch req.Op {
	case OpGet:
		i, ok := s.lookup(req.Key, now)
		if !ok {
			return Response{}, ErrNotFound
		}
		e := &s.entries[i]
		resp := Response{Found: true, Value: e.value}
		if e.deadline != 0 {
			resp.TTL = time.Duration(e.deadline - now)
		}
		return resp, nil

	case OpPut:
		if req.TTL < 0 {
			return Response{}, ErrInvalidTTL
		}
		s.set(req.Key, req.Value, deadlineAt(now, req.TTL))
		return Response{}, nil

	case OpDelete:
		i, ok := s.lookup(req.Key, now)
		if ok {
			s.remove(i)
		}
		return Response{Found: ok}, nil

	case OpIncr:
		i, ok := s.lookup(req.Key, now)
		if !ok {
			v := strconv.AppendInt(make([]byte, 0, maxCounterLen), req.Delta, 10)
			s.insert(string(req.Key), v, 0)
			return Response{Counter: req.Delta}, nil
		}
		e := &s.entries[i]
		n, ok := parseCounter(e.value)
		if !ok {
			return Response{}, ErrNotInteger
		}
		n, ok = addCounter(n, req.Delta)
		if !ok {
			return Response{}, ErrOverflow
		}
		buf := e.value[:0]
		if cap(buf) < maxCounterLen {
			buf = make([]byte, 0, maxCounterLen)
		}
		s.bytes -= cap(e.value)
		e.value = strconv.AppendInt(buf, n, 10)
		s.bytes += cap(e.value)
		return Response{Counter: n}, nil

	case OpCompareAndSwap:
		if req.TTL < 0 {
			return Response{}, ErrInvalidTTL
		}
		i, ok := s.lookup(req.Key, now)
		var swap bool
		if req.ExpectAbsent {
			swap = !ok
		} else {
			swap = ok && bytes.Equal(s.entries[i].value, req.Expected)
		}
		if !swap {
			if !ok {
				return Response{}, nil
			}
			return Response{Found: true, Value: s.entries[i].value}, nil
		}
		i = s.set(req.Key, req.Value, deadlineAt(now, req.TTL))
		return Response{Found: true, Swapped: true, Value: s.entries[i].value}, nil
	}
	return Response{}, ErrUnknownOp
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

// lookup returns the position of key if it is present and not expired at
// now. An expired key is removed (lazy expiry).
func (s *Store) lookup(key []byte, now int64) (int, bool) {
	i, ok := s.index[string(key)]
	if !ok {
		return -1, false
	}
	if d := s.entries[i].deadline; d != 0 && now >= d {
		s.remove(i)
		return -1, false
	}
	return i, true
}

// set writes key's value and deadline, inserting the key if needed, and
// returns its position. An expired key is simply overwritten.
func (s *Store) set(key, value []byte, deadline int64) int {
	i, ok := s.index[string(key)]
	if !ok {
		return s.insert(string(key), bytes.Clone(value), deadline)
	}
	e := &s.entries[i]
	s.bytes -= cap(e.value)
	e.value = reuseCopy(e.value, value)
	s.bytes += cap(e.value)
	s.setDeadline(i, deadline)
	return i
}

// reuseCopy returns a copy of v, in old's memory when old has room and would
// not waste much of it.
func reuseCopy(old, v []byte) []byte {
	if len(v) <= cap(old) && cap(old) <= 2*len(v)+32 {
		old = old[:len(v)]
		copy(old, v)
		return old
	}
	return bytes.Clone(v)
}

// insert adds a key that is not present, taking ownership of value.
func (s *Store) insert(key string, value []byte, deadline int64) int {
	i := len(s.entries)
	s.entries = append(s.entries, entry{key: key, value: value, hidx: -1})
	s.index[key] = i
	s.bytes += len(key) + cap(value) + entryOverhead
	s.setDeadline(i, deadline)
	return i
}

// remove deletes the entry at position i.
func (s *Store) remove(i int) {
	e := &s.entries[i]
	if e.hidx >= 0 {
		s.heapRemove(e.hidx)
	}
	delete(s.index, e.key)
	s.bytes -= len(e.key) + cap(e.value) + entryOverhead
	last := len(s.entries) - 1
	if i != last {
		s.entries[i] = s.entries[last]
		moved := &s.entries[i]
		s.index[moved.key] = i
		if moved.hidx >= 0 {
			s.heap[moved.hidx] = i
		}
	}
	s.entries[last] = entry{}
	s.entries = s.entries[:last]
	if c := cap(s.entries); c > 1024 && len(s.entries) < c/4 {
		s.entries = append(make([]entry, 0, c/2), s.entries...)
	}
	if c := cap(s.heap); c > 1024 && len(s.heap) < c/4 {
		s.heap = append(make([]int, 0, c/2), s.heap...)
	}
}

// ExpireSome removes up to max keys whose deadline is at or before now, the
// earliest first, and returns how many it removed. Its work is bounded by max
// (O(max log n)), so a worker can call it between batches; keys are also
// removed lazily when accessed after their deadline.
func (s *Store) ExpireSome(now time.Time, max int) int {
	t := now.UnixNano()
	n := 0
	for n < max && len(s.heap) > 0 && s.entries[s.heap[0]].deadline <= t {
		s.remove(s.heap[0])
		n++
	}
	return n
}

// NextDeadline returns the earliest deadline of any key, and false when no
// key has one. A worker can use it to schedule its next ExpireSome.
func (s *Store) NextDeadline() (time.Time, bool) {
	if len(s.heap) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, s.entries[s.heap[0]].deadline), true
}

// Range calls fn for every key held, in no particular order, until fn
// returns false. deadline is the zero Time for a key that does not expire.
// Expired keys not yet removed are included; compare deadline with the
// current time to skip them. key is a copy; value aliases the store and is
// valid only during the call. fn must not modify the store.
func (s *Store) Range(fn func(key, value []byte, deadline time.Time) bool) {
	for i := range s.entries {
		e := &s.entries[i]
		var d time.Time
		if e.deadline != 0 {
			d = time.Unix(0, e.deadline)
		}
		if !fn([]byte(e.key), e.value, d) {
			return
		}
	}
}

// setDeadline sets entry i's deadline and its place in the heap.
func (s *Store) setDeadline(i int, deadline int64) {
	e := &s.entries[i]
	old := e.deadline
	e.deadline = deadline
	switch {
	case deadline == 0:
		if e.hidx >= 0 {
			s.heapRemove(e.hidx)
		}
	case e.hidx < 0:
		e.hidx = len(s.heap)
		s.heap = append(s.heap, i)
		s.heapUp(e.hidx)
	case deadline < old:
		s.heapUp(e.hidx)
	case deadline > old:
		s.heapDown(e.hidx)
	}
}

// heapRemove removes heap position h.
func (s *Store) heapRemove(h int) {
	last := len(s.heap) - 1
	s.entries[s.heap[h]].hidx = -1
	if h != last {
		s.heap[h] = s.heap[last]
		s.entries[s.heap[h]].hidx = h
	}
	s.heap = s.heap[:last]
	if h != last {
		if !s.heapDown(h) {
			s.heapUp(h)
		}
	}
}

func (s *Store) heapLess(a, b int) bool {
	return s.entries[s.heap[a]].deadline < s.entries[s.heap[b]].deadline
}

func (s *Store) heapSwap(a, b int) {
	s.heap[a], s.heap[b] = s.heap[b], s.heap[a]
	s.entries[s.heap[a]].hidx = a
	s.entries[s.heap[b]].hidx = b
}

func (s *Store) heapUp(h int) {
	for h > 0 {
		p := (h - 1) / 2
		if !s.heapLess(h, p) {
			return
		}
		s.heapSwap(h, p)
		h = p
	}
}

// heapDown sifts position h down and reports whether it moved.
func (s *Store) heapDown(h int) bool {
	start := h
	n := len(s.heap)
	for {
		c := 2*h + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && s.heapLess(r, c) {
			c = r
		}
		if !s.heapLess(c, h) {
			break
		}
		s.heapSwap(h, c)
		h = c
	}
	return h > start
}
