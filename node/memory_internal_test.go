package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

func encode(t testing.TB, r kv.Request) []byte {
	t.Helper()
	p, err := r.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKVOwnerReadResponses: the owner's responses, carved from one chunk,
// stay intact while later items are answered (across chunk boundaries and
// with values too big for the chunk), are capped at their length, and cost
// no allocation of their own; writes are refused at the limit on the owner
// path only.
func TestKVOwnerReadResponses(t *testing.T) {
	lim := kv.NewLimit(0)
	p := kvService{limit: lim}.NewPartition(0).(*kvPartition)
	owner := Partition((*kvOwner)(p))
	now := time.Unix(1, 0)
	val := func(i int) []byte {
		n := 64
		if i%50 == 7 {
			n = respChunk + i // bigger than a chunk
		}
		return bytes.Repeat([]byte{byte('a' + i%26)}, n)
	}
	const keys = 300
	for i := range keys {
		if _, err := owner.Handle(now, encode(t, kv.Request{Op: kv.OpPut, Key: fmt.Append(nil, "k", i), Value: val(i)})); err != nil {
			t.Fatal(err)
		}
	}
	var outs [][]byte
	for i := range keys {
		out, err := owner.Handle(now, encode(t, kv.Request{Op: kv.OpGet, Key: fmt.Append(nil, "k", i)}))
		if err != nil {
			t.Fatal(err)
		}
		if cap(out) != len(out) {
			t.Fatalf("get k%d: response of len %d has cap %d", i, len(out), cap(out))
		}
		outs = append(outs, out)
	}
	for i, out := range outs {
		r, err := kv.DecodeResponse(out)
		if err != nil || !bytes.Equal(r.Value, val(i)) {
			t.Fatalf("get k%d: response %v (%v) changed after later reads", i, r.Value[:min(len(r.Value), 8)], err)
		}
	}
	if _, err := owner.Handle(now, encode(t, kv.Request{Op: kv.OpGet, Key: []byte("absent")})); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("get of an absent key: %v", err)
	}
	get := encode(t, kv.Request{Op: kv.OpGet, Key: []byte("k1")})
	if a := testing.AllocsPerRun(1000, func() { _, _ = owner.Handle(now, get) }); a >= 0.1 {
		t.Fatalf("a GET on the owner allocates %.2f times, want (amortized) 0", a)
	}

	// Write responses are carved too: intact after later writes, capped.
	var incrs [][]byte
	for i := range keys {
		out, err := owner.Handle(now, encode(t, kv.Request{Op: kv.OpIncr, Key: fmt.Append(nil, "c", i), Delta: int64(i + 1)}))
		if err != nil {
			t.Fatal(err)
		}
		if cap(out) != len(out) {
			t.Fatalf("incr c%d: response of len %d has cap %d", i, len(out), cap(out))
		}
		incrs = append(incrs, out)
	}
	for i, out := range incrs {
		if r, err := kv.DecodeResponse(out); err != nil || r.Counter != int64(i+1) {
			t.Fatalf("incr c%d: response %+v (%v) changed after later writes", i, r, err)
		}
	}
	put := encode(t, kv.Request{Op: kv.OpPut, Key: []byte("k1"), Value: val(1)})
	if a := testing.AllocsPerRun(1000, func() { _, _ = owner.Handle(now, put) }); a >= 0.1 {
		t.Fatalf("an overwrite on the owner allocates %.2f times, want (amortized) 0", a)
	}

	// At the limit only the owner refuses a write that needs memory.
	lim.SetMax(lim.Used())
	big := encode(t, kv.Request{Op: kv.OpPut, Key: []byte("big"), Value: make([]byte, 300<<10)})
	if _, err := owner.Handle(now, big); !errors.Is(err, kv.ErrMemoryFull) {
		t.Fatalf("owner write past the limit: %v", err)
	}
	if _, err := p.Handle(now, big); err != nil {
		t.Fatalf("replayed write past the limit: %v", err)
	}
}

// dedupSum is the sum of the size estimates of d's entries.
func dedupSum(d *dedup) int64 {
	var s int64
	if d.t != nil {
		for _, sl := range d.t.slots {
			s += int64(sl.e.size)
		}
	}
	return s
}

func dedupItem(i int) *nsv1.Item {
	return &nsv1.Item{Service: "kv", Key: fmt.Append(nil, "k", i), Payload: make([]byte, i%300)}
}

// TestDedupAccounting: a dedup table's charge is, after every put, the sum
// of its entries' estimates, through evictions (3x its bound) and
// replacements; reserve then unreserve changes nothing; once the table is
// dropped and collected, the Limit is back to zero.
func TestDedupAccounting(t *testing.T) {
	lim := kv.NewLimit(0)
	func() {
		var d dedup
		for i := range 3 * dedupSize {
			id := uint64(i + 1)
			it := dedupItem(i)
			if i%3 == 0 { // as the owner does: look it up first
				if _, ok := d.get(id); ok {
					t.Fatalf("id %d known before its put", id)
				}
			}
			if !d.reserve(lim, dedupItemBytes(it), false) {
				t.Fatal("reserve refused without a limit")
			}
			d.put(lim, id, dedupEntry{payload: make([]byte, i%30), item: it}, i%2 == 0)
			if i%100 == 0 { // replaced, as a snapshot's entry may be
				if i%200 == 0 {
					_, _ = d.get(id + 1) // a miss of another id
				}
				d.put(lim, id, dedupEntry{payload: []byte("replaced")}, false)
			}
			if got, want := lim.Used(), dedupSum(&d); got != want || d.bytes() != want {
				t.Fatalf("after put %d: limit used %d, table charged %d, entries sum to %d", i, got, d.bytes(), want)
			}
		}
		if d.len() != dedupSize {
			t.Fatalf("table holds %d ids, want its bound %d", d.len(), dedupSize)
		}
		before := lim.Used()
		if !d.reserve(lim, 1<<20, false) || lim.Used() <= before {
			t.Fatalf("reserve of 1 MiB: used %d, was %d", lim.Used(), before)
		}
		d.unreserve()
		if lim.Used() != before {
			t.Fatalf("after unreserve: used %d, was %d", lim.Used(), before)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for lim.Used() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("dropped dedup table still charged %d bytes", lim.Used())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// TestDedupReserveAtTheEdge: entries fill the budget alone; the first that
// does not fit is refused by reserve and charges nothing; with force (a
// delete's entry) it is taken past the limit.
func TestDedupReserveAtTheEdge(t *testing.T) {
	it := dedupItem(100)
	size := dedupItemBytes(it)
	lim := kv.NewLimit(3*size + size/2)
	var d dedup
	for i := range 3 {
		if !d.reserve(lim, size, false) {
			t.Fatalf("entry %d of 3 refused: used %d of %d", i, lim.Used(), lim.Max())
		}
		d.put(lim, uint64(i+1), dedupEntry{item: it}, false)
	}
	if lim.Used() != 3*size {
		t.Fatalf("used %d, want 3 entries of %d", lim.Used(), size)
	}
	if d.reserve(lim, size, false) || lim.Used() != 3*size {
		t.Fatalf("a 4th entry past the limit was reserved (used %d of %d)", lim.Used(), lim.Max())
	}
	if !d.reserve(lim, size, true) {
		t.Fatal("forced reserve refused")
	}
	d.put(lim, 4, dedupEntry{item: it}, false)
	if lim.Used() != 4*size || lim.Used() <= lim.Max() {
		t.Fatalf("after a forced entry: used %d of %d", lim.Used(), lim.Max())
	}
}

// TestDedupAloneCrossesLimit: on a running node, writes that need no new
// memory for data (overwrites of one key in place) but carry request ids
// fill --max-memory with dedup entries alone; the first one whose entry
// does not fit is refused with RESOURCE_EXHAUSTED naming the limit and
// changes nothing; a write without a request id that needs no memory, and a
// delete with one, still succeed; the usage is exactly what the stores and
// tables hold throughout.
func TestDedupAloneCrossesLimit(t *testing.T) {
	n := startTestNode(t, func(cfg *Config) { cfg.Ring.Partitions = 2 })
	ctx := context.Background()
	val := func(b byte) []byte { return bytes.Repeat([]byte{b}, 1000) }
	put := func(id uint64, v []byte) *nsv1.Result {
		t.Helper()
		it := &nsv1.Item{Service: "kv", Key: []byte("k"), Payload: encode(t, kv.Request{Op: kv.OpPut, Key: []byte("k"), Value: v}), RequestId: id}
		return n.dispatch(ctx, []*nsv1.Item{it}, false)[0]
	}
	exact := func(when string) {
		t.Helper()
		if used, counted, _ := MemoryAccountForTest(n); used != counted {
			t.Fatalf("%s: usage %d, the copies hold %d", when, used, counted)
		}
	}
	first := put(1, val('a'))
	if first.GetCode() != 0 {
		t.Fatalf("first put: %v", first)
	}
	exact("after the first put")
	it := &nsv1.Item{Service: "kv", Key: []byte("k"), Payload: encode(t, kv.Request{Op: kv.OpPut, Key: []byte("k"), Value: val('b')})}
	entry := dedupItemBytes(it) // a put's result is short: kept inline, in the overhead
	base := n.mem.Used()
	n.mem.SetMax(base + 5*entry + entry/2)
	var res *nsv1.Result
	accepted := 0
	for id := uint64(2); ; id++ {
		res = put(id, val(byte('b'+id%20)))
		if res.GetCode() != 0 {
			break
		}
		accepted++
		if accepted > 100 {
			t.Fatal("dedup entries never reached the limit")
		}
	}
	if accepted != 5 || codes.Code(res.GetCode()) != codes.ResourceExhausted || !strings.Contains(res.GetMessage(), "--max-memory") {
		t.Fatalf("%d overwrites accepted (want 5 entries of %d bytes) before %v, want RESOURCE_EXHAUSTED naming --max-memory", accepted, entry, res)
	}
	exact("at the limit")
	if used := n.mem.Used(); used != base+5*entry {
		t.Fatalf("usage %d at the limit, want the data %d and 5 entries of %d", used, base, entry)
	}
	get := n.dispatch(ctx, []*nsv1.Item{{Service: "kv", Key: []byte("k"), Payload: encode(t, kv.Request{Op: kv.OpGet, Key: []byte("k")})}}, false)[0]
	if r, err := kv.DecodeResponse(get.GetPayload()); err != nil || !bytes.Equal(r.Value, val(byte('b'+6%20))) {
		t.Fatalf("the refused write changed the value: %q... (%v)", r.Value[:4], err)
	}
	if r := put(0, val('z')); r.GetCode() != 0 {
		t.Fatalf("an overwrite in place without a request id at the limit: %v", r)
	}
	_, _, before := MemoryAccountForTest(n)
	n.mem.SetMax(n.mem.Used()) // not a byte left for the delete's entry
	del := &nsv1.Item{Service: "kv", Key: []byte("k"), Payload: encode(t, kv.Request{Op: kv.OpDelete, Key: []byte("k")}), RequestId: 1000}
	if r := n.dispatch(ctx, []*nsv1.Item{del}, false)[0]; r.GetCode() != 0 {
		t.Fatalf("a delete with a request id at the limit: %v", r)
	}
	exact("after the delete") // its entry charged, even past the limit
	if _, _, after := MemoryAccountForTest(n); after != before+1 {
		t.Fatalf("dedup entries %d after the delete, %d before", after, before)
	}
}

// TestDedupSnapshotKeepsOrder: a dedup table that has wrapped around
// travels in a snapshot oldest first, so the decoded table forgets the same
// ids first: after 1.5x its bound and one more id, the newest ids are all
// still known.
func TestDedupSnapshotKeepsOrder(t *testing.T) {
	n := decodeOnly()
	var d dedup
	const ids = dedupSize + dedupSize/2
	for id := uint64(1); id <= ids; id++ {
		d.put(nil, id, dedupEntry{lsn: id, payload: []byte("ok")}, false)
	}
	b, err := n.encodePartition(1, ids, []Partition{nil}, &d)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := n.decodePartition(0, b)
	if err != nil {
		t.Fatal(err)
	}
	dp.dedup.put(nil, ids+1, dedupEntry{lsn: ids + 1}, false)
	for id := uint64(ids - dedupSize + 2); id <= ids+1; id++ {
		if _, ok := dp.dedup.get(id); !ok {
			t.Fatalf("id %d forgotten after a snapshot and one more id; the oldest should go first", id)
		}
	}
	if _, ok := dp.dedup.get(ids - dedupSize + 1); ok {
		t.Fatalf("the oldest id %d is still known", ids-dedupSize+1)
	}
}

// TestDedupModel runs random puts and gets (new ids, known ids, ids from a
// small range so that probe runs collide and wrap) against a naive model:
// a map and a FIFO of ids in first-insertion order, the oldest forgotten
// past dedupSize. Every get agrees, the table holds the model's ids oldest
// first, and the charge is the sum of the entries' sizes.
func TestDedupModel(t *testing.T) {
	for seed := range int64(20) {
		rng := rand.New(rand.NewPCG(uint64(seed), 0))
		lim := kv.NewLimit(0)
		var d dedup
		model := map[uint64]uint64{} // id -> lsn
		var fifo []uint64
		span := uint64(600 + rng.IntN(3000))
		for step := range 20000 {
			id := rng.Uint64N(span) * (1 + uint64(seed%3)*0x10000) // strided ids too
			if rng.IntN(3) == 0 {
				e, ok := d.get(id)
				lsn, want := model[id]
				if ok != want || (ok && e.lsn != lsn) {
					t.Fatalf("seed %d step %d: get(%d) = %d, %v; model %d, %v", seed, step, id, e.lsn, ok, lsn, want)
				}
				continue
			}
			lsn := uint64(step + 1)
			d.put(lim, id, dedupEntry{lsn: lsn, payload: make([]byte, rng.IntN(40))}, rng.IntN(2) == 0)
			if _, ok := model[id]; !ok {
				fifo = append(fifo, id)
				if len(fifo) > dedupSize {
					delete(model, fifo[0])
					fifo = fifo[1:]
				}
			}
			model[id] = lsn
		}
		var got []uint64
		d.each(func(id uint64, e *dedupEntry) {
			got = append(got, id)
			if model[id] != e.lsn {
				t.Fatalf("seed %d: each: id %d at lsn %d, model %d", seed, id, e.lsn, model[id])
			}
		})
		if !slices.Equal(got, fifo) {
			t.Fatalf("seed %d: table holds %d ids, model %d, or in another order", seed, len(got), len(fifo))
		}
		if lim.Used() != dedupSum(&d) || d.bytes() != lim.Used() {
			t.Fatalf("seed %d: charged %d, entries sum to %d", seed, lim.Used(), dedupSum(&d))
		}
	}
}
