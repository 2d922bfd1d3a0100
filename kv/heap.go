package kv

// The expiry heap is a []uint32 of locs (no pointers), a min-heap by the
// records' deadlines. Each record in it holds its position plus one in its
// heap field, so that a deadline change or a removal finds it.

// setDeadline sets the deadline of the record at loc and its place in the
// heap.
func (s *Store) setDeadline(loc uint32, deadline int64) {
	r := s.rec(loc)
	old := recDeadline(r)
	setRecDeadline(r, deadline)
	h := le32(r, hHeap) - 1
	switch {
	case deadline == 0:
		if h >= 0 {
			s.heapRemove(h)
		}
	case h < 0:
		c := cap(s.heap)
		s.heap = append(s.heap, loc)
		if d := cap(s.heap) - c; d > 0 {
			s.acct.charge(d*heapEntrySz, true)
		}
		h = len(s.heap) - 1
		put32(r, hHeap, h+1)
		s.heapUp(h)
	case deadline < old:
		s.heapUp(h)
	case deadline > old:
		s.heapDown(h)
	}
}

// heapRemove removes heap position h.
func (s *Store) heapRemove(h int) {
	last := len(s.heap) - 1
	put32(s.rec(s.heap[h]), hHeap, 0)
	if h != last {
		s.heap[h] = s.heap[last]
		put32(s.rec(s.heap[h]), hHeap, h+1)
	}
	s.heap = s.heap[:last]
	if h != last && !s.heapDown(h) {
		s.heapUp(h)
	}
	if c := cap(s.heap); c > 1024 && len(s.heap) < c/4 {
		s.heap = append(make([]uint32, 0, c/2), s.heap...)
		s.acct.uncharge((c - cap(s.heap)) * heapEntrySz)
	}
}

func (s *Store) heapDeadline(h int) int64 { return recDeadline(s.rec(s.heap[h])) }

func (s *Store) heapLess(a, b int) bool { return s.heapDeadline(a) < s.heapDeadline(b) }

func (s *Store) heapSwap(a, b int) {
	s.heap[a], s.heap[b] = s.heap[b], s.heap[a]
	put32(s.rec(s.heap[a]), hHeap, a+1)
	put32(s.rec(s.heap[b]), hHeap, b+1)
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
