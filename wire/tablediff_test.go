package wire

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
)

func members(ids ...int) []ring.Member {
	var out []ring.Member
	for _, i := range ids {
		out = append(out, ring.Member{ID: fmt.Sprintf("n%03d", i), Addr: fmt.Sprintf("10.0.%d.%d:7700", i/256, i%256), Zone: fmt.Sprintf("z%d", i%3)})
	}
	return out
}

func mustTable(t interface{ Fatal(...any) }, cfg ring.Config, epoch uint64, ms []ring.Member) *ring.Table {
	tb, err := ring.New(cfg, epoch, ms)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestTableDiffProperty: for random member changes (joins, leaves, a
// member back at a new address or zone), the diff applied to the old table
// gives the new one, hash checked.
func TestTableDiffProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := ring.DefaultConfig()
		cfg.Partitions = rapid.SampledFrom([]int{16, 64, 271}).Draw(rt, "partitions")
		cfg.Backups = rapid.IntRange(0, 2).Draw(rt, "backups")
		ids := rapid.SliceOfNDistinct(rapid.IntRange(0, 40), 1, 12, rapid.ID[int]).Draw(rt, "ids")
		old := mustTable(rt, cfg, 5, members(ids...))
		// A few members leave and join, as between two views.
		in := map[int]bool{}
		for _, i := range ids {
			in[i] = !rapid.Bool().Draw(rt, fmt.Sprint("leave ", i)) || len(ids) == 1
		}
		for range rapid.IntRange(0, 3).Draw(rt, "joins") {
			in[rapid.IntRange(0, 40).Draw(rt, "join")] = true
		}
		var next []int
		for i, ok := range in {
			if ok {
				next = append(next, i)
			}
		}
		if len(next) == 0 {
			next = ids[:1]
		}
		ms := members(next...)
		if len(ms) > 0 && rapid.Bool().Draw(rt, "moved") {
			ms[0].Addr = "192.168.9.9:7700" // same id, new address
		}
		nw := mustTable(rt, cfg, 6, ms)
		d := TableDiffToProto(old, nw)
		if d == nil {
			rt.Skip("more than half the partitions changed: the watch sends the whole table")
		}
		got, err := ApplyTableDiff(old, d)
		if err != nil {
			rt.Fatalf("apply: %v", err)
		}
		if got.Hash() != nw.Hash() || got.Epoch() != nw.Epoch() {
			rt.Fatalf("applied diff: epoch %d hash %x, want %d %x", got.Epoch(), got.Hash(), nw.Epoch(), nw.Hash())
		}
		// Through the wire encoding too.
		b, err := proto.Marshal(d)
		if err != nil {
			rt.Fatal(err)
		}
		var d2 nsv1.TableDiff
		if err := proto.Unmarshal(b, &d2); err != nil {
			rt.Fatal(err)
		}
		if got, err := ApplyTableDiff(old, &d2); err != nil || got.Hash() != nw.Hash() {
			rt.Fatalf("after the wire: %v", err)
		}
	})
}

// TestTableDiffRejects: a diff for another base, or one that does not add
// up, is refused; the watcher then asks for the whole table.
func TestTableDiffRejects(t *testing.T) {
	cfg := ring.DefaultConfig()
	cfg.Backups = 1
	a := mustTable(t, cfg, 1, members(1, 2, 3))
	b := mustTable(t, cfg, 2, members(1, 2, 3, 4))
	c := mustTable(t, cfg, 3, members(1, 2, 4))
	d := TableDiffToProto(a, b)
	if d == nil {
		t.Fatal("no diff for one join")
	}
	if _, err := ApplyTableDiff(c, d); !errors.Is(err, ErrDiffBase) {
		t.Fatalf("diff applied to another table: %v", err)
	}
	bad := proto.Clone(d).(*nsv1.TableDiff)
	bad.Owners[0] = 99
	if _, err := ApplyTableDiff(a, bad); err == nil {
		t.Fatal("an owner index out of range was accepted")
	}
	bad = proto.Clone(d).(*nsv1.TableDiff)
	bad.Hash++
	if _, err := ApplyTableDiff(a, bad); err == nil {
		t.Fatal("a wrong hash was accepted")
	}
	bad = proto.Clone(d).(*nsv1.TableDiff)
	bad.Partitions = bad.Partitions[1:]
	if _, err := ApplyTableDiff(a, bad); err == nil {
		t.Fatal("a diff missing a changed partition was accepted")
	}
	// Every member replaced: more than half the partitions move, and the
	// whole table is smaller than a diff would be.
	if TableDiffToProto(a, mustTable(t, cfg, 2, members(7, 8, 9))) != nil {
		t.Fatal("a diff where every partition changed")
	}
	other := cfg
	other.Partitions = 64
	if TableDiffToProto(a, mustTable(t, other, 2, members(1, 2, 3))) != nil {
		t.Fatal("a diff across partition counts")
	}
}

// TestTableDiffSize: one join at scale (1,000 members, 16,384 partitions,
// one backup): the diff is a small part of the whole table (figures in
// docs/scale.md).
func TestTableDiffSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two tables of 1,000 members")
	}
	cfg := ring.DefaultConfig()
	cfg.Partitions, cfg.Backups = 16384, 1
	ids := make([]int, 1000)
	for i := range ids {
		ids[i] = i
	}
	old := mustTable(t, cfg, 1, members(ids...))
	nw := mustTable(t, cfg, 2, members(append(ids, 1000)...))
	d := TableDiffToProto(old, nw)
	if d == nil {
		t.Fatal("no diff for one join")
	}
	whole, diff := proto.Size(TableToProto(nw)), proto.Size(d)
	t.Logf("1,000 -> 1,001 members, 16,384 partitions, 1 backup: whole table %d bytes, diff %d bytes (%d partitions changed)", whole, diff, len(d.GetPartitions()))
	if diff*10 > whole {
		t.Fatalf("diff %d bytes, more than a tenth of the whole table (%d)", diff, whole)
	}
	if got, err := ApplyTableDiff(old, d); err != nil || got.Hash() != nw.Hash() {
		t.Fatalf("apply: %v", err)
	}
}
