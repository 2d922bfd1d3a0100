package kv

import (
	"bytes"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestApplyAllocs: operations on existing keys, and inserts into a page with
// room, allocate nothing.
func TestApplyAllocs(t *testing.T) {
	s := NewStore()
	for i := range 1000 {
		k := []byte("key-" + strconv.Itoa(i))
		s.Apply(t0, &Request{Op: OpPut, Key: k, Value: bytes.Repeat([]byte{'v'}, 64), TTL: time.Duration(i%2) * time.Hour})
		s.Apply(t0, &Request{Op: OpIncr, Key: append(k, 'n'), Delta: 1})
	}
	v64 := bytes.Repeat([]byte{'w'}, 64)
	absent := []byte("absent")
	i := 0
	key := func() []byte { i++; return []byte("key-" + strconv.Itoa(i%1000)) }
	keys := make([][]byte, 1000)
	counters := make([][]byte, 1000)
	for j := range keys {
		keys[j] = key()
		counters[j] = append(bytes.Clone(keys[j]), 'n')
	}
	cases := []struct {
		name string
		req  func(j int) Request
	}{
		{"get", func(j int) Request { return Request{Op: OpGet, Key: keys[j]} }},
		{"put overwrite", func(j int) Request { return Request{Op: OpPut, Key: keys[j], Value: v64} }},
		{"put overwrite ttl", func(j int) Request {
			return Request{Op: OpPut, Key: keys[j], Value: v64, TTL: time.Duration(1+j) * time.Second}
		}},
		{"incr", func(j int) Request { return Request{Op: OpIncr, Key: counters[j], Delta: 3} }},
		{"cas", func(j int) Request { return Request{Op: OpCompareAndSwap, Key: keys[j], Expected: v64, Value: v64} }},
		{"get absent", func(j int) Request { return Request{Op: OpGet, Key: absent} }},
	}
	for _, c := range cases {
		j := 0
		allocs := testing.AllocsPerRun(2000, func() {
			r := c.req(j % 1000)
			j++
			if _, err := s.apply(t0.UnixNano(), &r); err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs per op, want 0", c.name, allocs)
		}
	}
	// Deletes and inserts: the same keys come and go; the pages they take
	// are reused (the spare page), so the steady state allocates nothing.
	j := 0
	allocs := testing.AllocsPerRun(20000, func() {
		k := keys[j%1000]
		j++
		s.apply(t0.UnixNano(), &Request{Op: OpDelete, Key: k})
		s.apply(t0.UnixNano(), &Request{Op: OpPut, Key: k, Value: v64})
	})
	if allocs != 0 {
		t.Errorf("delete+insert: %v allocs per pair, want 0", allocs)
	}
	checkInvariants(t, s)
}

// TestCompactionProperty: random writes of random sizes on tiny pages
// against a map. Contents always match; the invariants (page walk, live
// bytes, index, heap, Bytes) always hold; and once compaction has caught up
// the pages hold at most about twice the live data.
func TestCompactionProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		minPage := rapid.SampledFrom([]int{64, 256, 1024}).Draw(t, "min page")
		maxPage := minPage * rapid.SampledFrom([]int{1, 2, 8}).Draw(t, "max page factor")
		s := newStore(Config{}, minPage, maxPage)
		m := map[string][]byte{}
		nkeys := rapid.IntRange(1, 40).Draw(t, "keys")
		key := func(t *rapid.T) []byte { return []byte("k" + strconv.Itoa(rapid.IntRange(0, nkeys-1).Draw(t, "key"))) }
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				k := key(t)
				v := bytes.Repeat([]byte{byte(rapid.IntRange('a', 'z').Draw(t, "byte"))}, rapid.IntRange(0, maxPage).Draw(t, "size"))
				if _, err := s.Apply(t0, &Request{Op: OpPut, Key: k, Value: v}); err != nil {
					t.Fatal(err)
				}
				m[string(k)] = v
			},
			"delete": func(t *rapid.T) {
				k := key(t)
				s.Apply(t0, &Request{Op: OpDelete, Key: k})
				delete(m, string(k))
			},
			"expire": func(t *rapid.T) {
				s.ExpireSome(t0, 1)
			},
			"": func(t *rapid.T) {
				checkInvariants(t, s)
				got := map[string][]byte{}
				s.Range(func(k, v []byte, _ time.Time) bool { got[string(k)] = bytes.Clone(v); return true })
				if len(got) != len(m) {
					t.Fatalf("store has %d keys, model %d", len(got), len(m))
				}
				for k, v := range m {
					if !bytes.Equal(got[k], v) {
						t.Fatalf("key %q: %q, want %q", k, got[k], v)
					}
				}
			},
		})
		// Let compaction finish, then bound the pages.
		for range 1000 {
			s.ExpireSome(t0, 0)
		}
		checkInvariants(t, s)
		live, held := 0, 0
		for p := 1; p < len(s.pages); p++ {
			pg := &s.pages[p]
			live += pg.live
			if len(pg.data) > 0 && uint32(p) != s.active && pg.live < len(pg.data) {
				held += len(pg.data)
			}
		}
		if held > 2*live+maxPage {
			t.Fatalf("after compaction: %d bytes of partly dead pages hold %d live bytes", held, live)
		}
	})
}

func TestMemoryLimit(t *testing.T) {
	lim := NewLimit(64 << 10)
	a, err := New(Config{Limit: lim})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(Config{Limit: lim})
	v := bytes.Repeat([]byte{'v'}, 100)
	var full error
	var fs *Store // the store refused
	n := 0
	for i := 0; full == nil; i++ {
		fs = a
		if i%2 == 1 {
			fs = b
		}
		_, full = fs.Apply(t0, &Request{Op: OpPut, Key: []byte("key-" + strconv.Itoa(i)), Value: v})
		if full == nil {
			n++
		}
		if i > 10000 {
			t.Fatal("the limit never refused a write")
		}
	}
	if !errors.Is(full, ErrMemoryFull) {
		t.Fatalf("write past the limit: %v", full)
	}
	if full.Error() != "kv: memory limit reached (--max-memory)" {
		t.Fatalf("message %q", full)
	}
	if got := int64(a.Bytes() + b.Bytes()); got != lim.Used() || got > lim.Max() {
		t.Fatalf("stores hold %d, limit used %d of %d", got, lim.Used(), lim.Max())
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
	// The refused write changed nothing; writes that need no new memory
	// still succeed: overwrites in place, incr of existing counters, deletes.
	before := allContents(a) + allContents(b)
	if a.Len()+b.Len() != n {
		t.Fatalf("%d keys held after %d successful puts", a.Len()+b.Len(), n)
	}
	if _, err := a.Apply(t0, &Request{Op: OpPut, Key: []byte("key-0"), Value: bytes.Repeat([]byte{'w'}, 100)}); err != nil {
		t.Fatalf("overwrite in place at the limit: %v", err)
	}
	// (Bigger than the write refused, so that they cannot fit in what is
	// left of a page.)
	if _, err := fs.Apply(t0, &Request{Op: OpCompareAndSwap, Key: []byte("new"), ExpectAbsent: true, Value: bytes.Repeat(v, 2)}); !errors.Is(err, ErrMemoryFull) {
		t.Fatalf("cas insert at the limit: %v", err)
	}
	if _, err := fs.Apply(t0, &Request{Op: OpIncr, Key: bytes.Repeat([]byte{'c'}, 120), Delta: 1}); !errors.Is(err, ErrMemoryFull) {
		t.Fatalf("incr insert at the limit: %v", err)
	}
	if _, err := fs.Apply(t0, &Request{Op: OpGet, Key: []byte("new")}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused cas left a key: %v", err)
	}
	if after := allContents(a) + allContents(b); len(after) != len(before) {
		t.Fatal("refused writes changed the contents")
	}
	// Restore is never refused, and the restored store is charged.
	snap := snapshotBytes(t, a)
	c, _ := New(Config{Limit: lim})
	if err := c.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatalf("Restore past the limit: %v", err)
	}
	if lim.Used() != int64(a.Bytes()+b.Bytes()+c.Bytes()) {
		t.Fatalf("limit used %d, stores hold %d", lim.Used(), a.Bytes()+b.Bytes()+c.Bytes())
	}
	// Reset gives the memory back; so does a Restore replacing content.
	c.Reset()
	a.Reset()
	if err := b.Restore(bytes.NewReader(snapshotBytes(t, NewStore()))); err != nil {
		t.Fatal(err)
	}
	if lim.Used() != 0 || a.Bytes() != 0 || b.Bytes() != 0 || c.Bytes() != 0 {
		t.Fatalf("after Reset and empty Restore: limit used %d", lim.Used())
	}
	if _, err := a.Apply(t0, &Request{Op: OpPut, Key: []byte("k"), Value: v}); err != nil {
		t.Fatalf("put after Reset: %v", err)
	}
	// No limit: never full.
	lim.SetMax(0)
	for i := range 5000 {
		if _, err := a.Apply(t0, &Request{Op: OpPut, Key: []byte("key-" + strconv.Itoa(i)), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewConfig(t *testing.T) {
	for _, v := range []int{-1, 3} {
		if _, err := New(Config{SnapshotVersion: v}); err == nil {
			t.Errorf("New with SnapshotVersion %d: no error", v)
		}
	}
	s, err := New(Config{SnapshotVersion: 2})
	if err != nil {
		t.Fatal(err)
	}
	s.Apply(t0, &Request{Op: OpPut, Key: []byte("k"), Value: []byte("v")})
	if snap := snapshotBytes(t, s); !bytes.HasPrefix(snap, []byte("NSKV\x02")) {
		t.Fatalf("v2 store wrote %q", snap[:5])
	}
	if snap := snapshotBytes(t, NewStore()); !bytes.HasPrefix(snap, []byte("NSKV\x01")) {
		t.Fatalf("default store wrote %q", snap[:5])
	}
}

// TestSnapshotV2Format pins the v2 record layout.
func TestSnapshotV2Format(t *testing.T) {
	s, _ := New(Config{SnapshotVersion: 2})
	s.Apply(t0, &Request{Op: OpPut, Key: []byte("k"), Value: []byte("v"), TTL: time.Second})
	rec := binaryLE64(uint64(t0.Add(time.Second).UnixNano()))
	rec = append(rec, 1, 0, 0, 0, 1, 0, 0, 0, 'k', 'v')
	want := concat(header(2, 1), frame(1, rec), frame(0, nil))
	if got := snapshotBytes(t, s); !bytes.Equal(got, want) {
		t.Fatalf("snapshot\n%x\nwant\n%x", got, want)
	}
}

// TestSnapshotVersionsAgree: a store restored from v1 and from v2 holds the
// same, and each writes back what it read.
func TestSnapshotVersionsAgree(t *testing.T) {
	src := goldenStore(t)
	v1 := snapshotBytes(t, src)
	src.cfg.SnapshotVersion = 2
	v2 := snapshotBytes(t, src)
	for _, c := range []struct {
		version int
		snap    []byte
	}{{1, v1}, {2, v2}} {
		s, _ := New(Config{SnapshotVersion: c.version})
		if err := s.Restore(bytes.NewReader(c.snap)); err != nil {
			t.Fatalf("v%d: %v", c.version, err)
		}
		if allContents(s) != allContents(src) {
			t.Fatalf("v%d: contents differ", c.version)
		}
		if !bytes.Equal(snapshotBytes(t, s), c.snap) {
			t.Fatalf("v%d: snapshot of the restored store differs", c.version)
		}
	}
}

func binaryLE64(v uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

// TestIndexProperty: many keys inserted and deleted, so that the index
// grows while keys are deleted from its old table (tombstones) and looked
// up in both, while values change size and tiny pages get compacted (so
// records move while their slot is in either table); checked against a set.
func TestIndexProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newStore(Config{}, 64, 256)
		m := map[string]bool{}
		n := rapid.IntRange(1, 2000).Draw(t, "keys")
		key := func(t *rapid.T) []byte { return []byte(strconv.Itoa(rapid.IntRange(0, n-1).Draw(t, "key"))) }
		t.Repeat(map[string]func(*rapid.T){
			"insert many": func(t *rapid.T) {
				for range rapid.IntRange(1, 100).Draw(t, "count") {
					k := key(t)
					s.Apply(t0, &Request{Op: OpPut, Key: k, Value: make([]byte, rapid.IntRange(0, 40).Draw(t, "size"))})
					m[string(k)] = true
				}
			},
			"delete": func(t *rapid.T) {
				k := key(t)
				resp, _ := s.Apply(t0, &Request{Op: OpDelete, Key: k})
				if resp.Found != m[string(k)] {
					t.Fatalf("delete %q: found %v, want %v", k, resp.Found, m[string(k)])
				}
				delete(m, string(k))
			},
			"sweep": func(t *rapid.T) {
				s.ExpireSome(t0, 1) // compacts before it migrates
			},
			"get": func(t *rapid.T) {
				k := key(t)
				if _, err := s.Apply(t0, &Request{Op: OpGet, Key: k}); (err == nil) != m[string(k)] {
					t.Fatalf("get %q: %v, want present %v", k, err, m[string(k)])
				}
			},
			"": func(t *rapid.T) {
				checkInvariants(t, s)
				if s.Len() != len(m) {
					t.Fatalf("Len %d, want %d", s.Len(), len(m))
				}
			},
		})
	})
}

// TestLimitDroppedStore: a store dropped without Reset gives its charge
// back once the garbage collector has freed it.
func TestLimitDroppedStore(t *testing.T) {
	lim := NewLimit(0)
	func() {
		s, _ := New(Config{Limit: lim})
		s.Apply(t0, &Request{Op: OpPut, Key: []byte("k"), Value: make([]byte, 100<<10)})
		if lim.Used() == 0 {
			t.Fatal("nothing charged")
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for lim.Used() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("dropped store still charged %d bytes", lim.Used())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// TestHandleReplayPastLimit: at the limit, Handle refuses a new key while
// HandleReplay of the same request applies it and charges the Limit past its
// maximum (a backup or a replayed log must not diverge from its owner);
// Handle still refuses a write that needs new memory afterwards.
func TestHandleReplayPastLimit(t *testing.T) {
	lim := NewLimit(16 << 10)
	s, _ := New(Config{Limit: lim})
	v := bytes.Repeat([]byte{'v'}, 100)
	put := func(i int) []byte {
		p, err := (&Request{Op: OpPut, Key: []byte("key-" + strconv.Itoa(i)), Value: v}).AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	i := 0
	for ; ; i++ {
		if _, err := s.Handle(t0, put(i)); err != nil {
			if !errors.Is(err, ErrMemoryFull) {
				t.Fatalf("put %d: %v", i, err)
			}
			break
		}
		if i > 1000 {
			t.Fatal("the limit never refused a write")
		}
	}
	if lim.Used() > lim.Max() {
		t.Fatalf("owner writes took %d of %d", lim.Used(), lim.Max())
	}
	for j := i; j < i+200; j++ {
		if _, err := s.HandleReplay(t0, put(j)); err != nil {
			t.Fatalf("replay of put %d past the limit: %v", j, err)
		}
	}
	if lim.Used() <= lim.Max() || int64(s.Bytes()) != lim.Used() {
		t.Fatalf("replayed writes: limit used %d of %d, store holds %d", lim.Used(), lim.Max(), s.Bytes())
	}
	if s.Len() != i+200 {
		t.Fatalf("%d keys, want %d", s.Len(), i+200)
	}
	// (A value big enough for a page of its own: it cannot fit in what is
	// left of the active page.)
	big, _ := (&Request{Op: OpPut, Key: []byte("big"), Value: make([]byte, defaultMaxPage)}).AppendBinary(nil)
	if _, err := s.Handle(t0, big); !errors.Is(err, ErrMemoryFull) {
		t.Fatalf("owner write after replays: %v, want ErrMemoryFull", err)
	}
	checkInvariants(t, s)
}

// TestLimitCharge: Charge without force is refused past the maximum and
// changes nothing; with force it always succeeds; Release gives the bytes
// back; a nil Limit accepts everything.
func TestLimitCharge(t *testing.T) {
	lim := NewLimit(100)
	if !lim.Charge(60, false) || lim.Used() != 60 {
		t.Fatalf("charge 60 of 100: used %d", lim.Used())
	}
	if lim.Charge(41, false) || lim.Used() != 60 {
		t.Fatalf("charge 41 more was accepted or changed usage: used %d", lim.Used())
	}
	if !lim.Charge(40, false) || !lim.Charge(10, true) || lim.Used() != 110 {
		t.Fatalf("charges to the edge and past it with force: used %d", lim.Used())
	}
	lim.Release(110)
	if lim.Used() != 0 {
		t.Fatalf("after release: used %d", lim.Used())
	}
	var none *Limit
	if !none.Charge(1<<40, false) {
		t.Fatal("a nil Limit refused a charge")
	}
	none.Release(1)
}

func TestOnlyFrees(t *testing.T) {
	for op := OpGet; op <= OpFlush; op++ {
		p, err := (&Request{Op: op, Key: []byte("k"), Value: []byte("v"), Delta: 1}).AppendBinary(nil)
		if err != nil {
			t.Fatal(op, err)
		}
		want := op == OpDelete || op == OpGetDel || op == OpFlush
		if got := OnlyFrees(p); got != want {
			t.Errorf("OnlyFrees(%v) = %v, want %v", op, got, want)
		}
	}
	if OnlyFrees(nil) || OnlyFrees([]byte{0xff, byte(OpDelete)}) {
		t.Error("OnlyFrees of a malformed payload")
	}
}
