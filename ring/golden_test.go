package ring

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden_v*.txt")

// TestGolden pins each placement version, in testdata/golden_v1.txt,
// golden_v2.txt and golden_v3.txt: every node of a cluster must compute the same table, so a
// change to the hash, the point names, consistent's version or the backup
// passes is a protocol change. A new algorithm is a new placement version
// with a golden file of its own; an existing file changes only to fix a bug
// no released node can depend on. If this test fails on purpose, rerun with
// -update and say so in the commit.
//
//	go test ./ring -run TestGolden -update
func TestGolden(t *testing.T) {
	for _, v := range []int{PlacementV1, PlacementV2, PlacementV3} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { testGolden(t, v) })
	}
}

func testGolden(t *testing.T, version int) {
	var out strings.Builder
	dump := func(title string, tb *Table) {
		fmt.Fprintf(&out, "## %s\n%s\n", title, tb)
		for _, m := range tb.Members() {
			fmt.Fprintf(&out, "member %s addr=%s zone=%s owns=%v backs=%v\n", m.ID, m.Addr, m.Zone, tb.Owned(m.ID), tb.BackedUp(m.ID))
		}
	}
	diff := func(title string, old, new *Table) {
		fmt.Fprintf(&out, "## %s\n", title)
		for _, m := range Diff(old, new) {
			fmt.Fprintf(&out, "p%d: %q -> %q backups %q -> %q\n", m.Partition, m.From, m.To, m.BackupsFrom, m.BackupsTo)
		}
	}

	small := Config{Partitions: 13, Backups: 1, Placement: version}
	three := []Member{
		{ID: "a", Addr: "127.0.0.1:7700", Zone: "z1"},
		{ID: "b", Addr: "127.0.0.1:7701", Zone: "z2"},
		{ID: "c", Addr: "127.0.0.1:7702", Zone: "z1"},
	}
	t1 := mustNew(t, small, 1, three)
	dump("13 partitions, 1 backup, a b c", t1)
	t2 := mustNew(t, small, 2, append(three, Member{ID: "d", Addr: "127.0.0.1:7703", Zone: "z2"}))
	dump("d joins", t2)
	diff("diff a b c -> a b c d", t1, t2)
	t3 := mustNew(t, small, 3, []Member{three[0], three[2], {ID: "d", Addr: "127.0.0.1:7703", Zone: "z2"}})
	diff("b leaves: a c d", t2, t3)

	def := DefaultConfig()
	def.Backups, def.Placement = 2, version
	for _, n := range []int{1, 3, 5, 16} {
		tb := mustNew(t, def, 1, members(n))
		fmt.Fprintf(&out, "## default config, 2 backups, %d members\n%s\n", n, tb)
	}
	if version != PlacementV1 {
		// Zones, and a larger table summarised by its hash and loads.
		zoned := Config{Partitions: 31, Backups: 2, Placement: version}
		var zs []Member
		for i, z := range []string{"z1", "z1", "z2", "z2", "z3", "z1"} {
			zs = append(zs, Member{ID: fmt.Sprintf("n%d", i), Zone: z})
		}
		dump("31 partitions, 2 backups, zones z1 z1 z2 z2 z3 z1", mustNew(t, zoned, 1, zs))
		big := Config{Partitions: 4096, Backups: 1, Placement: version}
		fmt.Fprintf(&out, "## 4096 partitions, 1 backup, 100 members\n%s\n", mustNew(t, big, 1, members(100)))
	}

	got := out.String()
	path := filepath.Join("testdata", fmt.Sprintf("golden_v%d.txt", version))
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("placement differs from %s; if intended, rerun with -update.\ngot:\n%s", path, got)
	}
}
