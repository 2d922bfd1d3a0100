package kv

import (
	"container/heap"
	"encoding/binary"
	"fmt"
)

// This file holds the operations beyond a plain read or write of one key:
// append and getdel (one key, a read and a write in one step), msetnx
// (several keys of one partition, all or nothing), scan and flush (a whole
// partition).

// appendOp appends req.Value to the key's value, keeping its deadline: in
// place when the record has room (it keeps room to grow), so a run of
// appends costs O(1) each, amortized, as in Redis.
func (s *Store) appendOp(now int64, req *Request) (Response, error) {
	s.housekeep(compactMin + 2*(len(req.Key)+len(req.Value)))
	h := hashKey(req.Key)
	i, loc, ok := s.find(h, req.Key, now)
	var old []byte
	var deadline int64
	if ok {
		r := s.rec(loc)
		old, deadline = recValue(r), recDeadline(r)
	}
	n := len(old) + len(req.Value)
	if req.Delta > 0 && int64(n) > req.Delta {
		return Response{}, fmt.Errorf("%w: appending %d bytes to %d makes %d, max %d", ErrValueTooLarge, len(req.Value), len(old), n, req.Delta)
	}
	if ok {
		if r := s.rec(loc); n <= recCap(r) {
			copy(r[recHeader+len(req.Key)+len(old):], req.Value)
			put32(r, hVlen, n)
			return Response{Counter: int64(n)}, nil
		}
	}
	s.scratch = append(append(s.scratch[:0], old...), req.Value...)
	// Room for as much again (up to 64 KiB more), so that a run of appends
	// moves the record O(log n) times.
	if _, err := s.store(h, i, loc, ok, req.Key, s.scratch, deadline, n+min(n, 64<<10)); err != nil {
		return Response{}, err
	}
	return Response{Counter: int64(n)}, nil
}

// getDel removes the key and returns its value (in s.scratch: the record is
// freed, and its page may be reused, before the response is encoded).
func (s *Store) getDel(now int64, req *Request) (Response, error) {
	i, loc, ok := s.find(hashKey(req.Key), req.Key, now)
	if !ok {
		return Response{}, ErrNotFound
	}
	s.scratch = append(s.scratch[:0], recValue(s.rec(loc))...)
	s.remove(i, loc)
	return Response{Found: true, Value: s.scratch}, nil
}

// AppendPair appends a key and a value to b in the encoding of an msetnx
// request's Value (each a uvarint length, then the bytes) and returns the
// extended buffer.
func AppendPair(b, key, value []byte) []byte {
	return appendBytes(appendBytes(b, key), value)
}

// nextPair reads one pair of an msetnx Value: the key, the value and the
// rest, or ok false when b is malformed.
func nextPair(b []byte) (key, value, rest []byte, ok bool) {
	d := decoder{b: b}
	key = d.bytes(false)
	value = d.bytes(false)
	return key, value, d.b, d.err == nil
}

// msetnx writes every pair of req.Value, without expiry, if none of its keys
// is present; else nothing. A write that runs out of memory part way removes
// the keys written before it (they were all absent), so it changes nothing.
func (s *Store) msetnx(now int64, req *Request) (Response, error) {
	if len(req.Value) == 0 {
		return Response{}, corruptf("msetnx without pairs")
	}
	for b := req.Value; len(b) > 0; {
		k, _, rest, ok := nextPair(b)
		if !ok {
			return Response{}, corruptf("msetnx pairs malformed")
		}
		if _, _, found := s.find(hashKey(k), k, now); found {
			return Response{Found: true}, nil
		}
		b = rest
	}
	s.housekeep(compactMin + 2*len(req.Value))
	for b := req.Value; len(b) > 0; {
		k, v, rest, _ := nextPair(b)
		h := hashKey(k)
		i, loc, found := s.lookup(h, k)
		if _, err := s.store(h, i, loc, found, k, v, 0, 0); err != nil {
			s.unwrite(req.Value[:len(req.Value)-len(b)])
			return Response{}, err
		}
		b = rest
	}
	return Response{Found: true, Swapped: true}, nil
}

// unwrite removes the keys of the pairs in b.
func (s *Store) unwrite(b []byte) {
	for len(b) > 0 {
		k, _, rest, _ := nextPair(b)
		if i, loc, ok := s.lookup(hashKey(k), k); ok {
			s.remove(i, loc)
		}
		b = rest
	}
}

// ScanBits is the number of bits of a key's scan position: the top ScanBits
// bits of its 64-bit hash. Cursors are positions, below 1<<ScanBits.
const ScanBits = 44

// Scan page sizes: Delta <= 0 means defaultScanCount (Redis's COUNT
// default); more than maxScanCount is maxScanCount.
const (
	defaultScanCount = 10
	maxScanCount     = 1 << 16
)

// scanPos returns the scan position of a key. A variable so that a test can
// make positions collide (TestScanTies).
var scanPos = func(key []byte) uint64 { return hashKey(key) >> (64 - ScanBits) }

// scan returns the keys (live at now) whose positions are the req.Delta
// smallest at or after req.Cursor, and every other key at the largest of
// those positions, so that no key is skipped. Counter is the position after
// the largest returned, 0 when no key is left. It changes nothing; it costs
// one pass over the partition (one hash per key), plus O(log Delta) per key
// kept.
func (s *Store) scan(now int64, req *Request) (Response, error) {
	count := int(min(req.Delta, maxScanCount))
	if count <= 0 {
		count = defaultScanCount
	}
	h := &s.scanPos // not a local: heap.Init(&local) would make it escape
	*h = (*h)[:0]
	ties := s.scanTies[:0] // keys left out at what was then the largest position
	s.records(func(r []byte) bool {
		if d := recDeadline(r); d != 0 && now >= d {
			return true
		}
		k := recKey(r)
		p := scanPos(k)
		switch {
		case p < req.Cursor:
		case len(*h) < count:
			*h = append(*h, scanEntry{p, k})
			if len(*h) == count {
				heap.Init(h)
			}
		case p < (*h)[0].pos:
			out := (*h)[0]
			(*h)[0] = scanEntry{p, k}
			heap.Fix(h, 0)
			if out.pos == (*h)[0].pos {
				ties = append(ties, out)
			}
		case p == (*h)[0].pos:
			ties = append(ties, scanEntry{p, k})
		}
		return true
	})
	var next uint64
	s.scratch = s.scratch[:0]
	for _, e := range *h {
		s.scratch = appendBytes(s.scratch, e.key)
	}
	if len(*h) == count {
		last := (*h)[0].pos
		for _, e := range ties {
			if e.pos == last {
				s.scratch = appendBytes(s.scratch, e.key)
			}
		}
		if last < 1<<ScanBits-1 {
			next = last + 1
		}
	}
	clear(*h) // keys alias pages: do not keep them
	clear(ties)
	*h, s.scanTies = (*h)[:0], ties[:0]
	return Response{Value: s.scratch, Counter: int64(next)}, nil
}

// ScanKeys calls fn with each key of a scan response's Value, in order. It
// returns an error wrapping ErrCorrupt if value is malformed.
func ScanKeys(value []byte, fn func(key []byte)) error {
	for len(value) > 0 {
		n, k := binary.Uvarint(value)
		if k <= 0 || uint64(len(value)-k) < n {
			return corruptf("scan keys malformed")
		}
		fn(value[k : k+int(n) : k+int(n)])
		value = value[k+int(n):]
	}
	return nil
}

// scanEntry is a key of a scan page and its position; key aliases the
// store's page during the scan.
type scanEntry struct {
	pos uint64
	key []byte
}

// scanHeap is a max-heap of scan entries by position (container/heap).
type scanHeap []scanEntry

func (h scanHeap) Len() int           { return len(h) }
func (h scanHeap) Less(i, j int) bool { return h[i].pos > h[j].pos }
func (h scanHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }

// Push and Pop are unused: the heap is filled by append and heap.Init and
// then only its root replaced (heap.Fix), which allocates nothing.
func (h *scanHeap) Push(x any) { *h = append(*h, x.(scanEntry)) }
func (h *scanHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
