package ring

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// members returns n members node-00, node-01, ... with addresses and no zone.
func members(n int) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{ID: fmt.Sprintf("node-%02d", i), Addr: fmt.Sprintf("127.0.0.1:%d", 7700+i)}
	}
	return ms
}

// placements are the placement versions every placement test runs with.
var placements = []int{PlacementV1, PlacementV2, PlacementV3}

// fataler is what the helpers need of *testing.T, *testing.B and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// mustNew calls New and fails the test on error.
func mustNew(t fataler, cfg Config, epoch uint64, ms []Member) *Table {
	t.Helper()
	tb, err := New(cfg, epoch, ms)
	if err != nil {
		t.Fatalf("New(%+v, %d members): %v", cfg, len(ms), err)
	}
	return tb
}

// checkInvariants fails the test unless every partition of tb has one owner
// that is a member and min(B, N-1) backups, distinct and not the owner.
func checkInvariants(t fataler, tb *Table) {
	t.Helper()
	n := len(tb.Members())
	want := min(tb.BackupCount(), n-1)
	if !slices.IsSortedFunc(tb.Members(), func(a, b Member) int { return strings.Compare(a.ID, b.ID) }) {
		t.Fatalf("members not sorted: %v", tb.Members())
	}
	if got := len(tb.Owners()); got != tb.Partitions() {
		t.Fatalf("%d owners for %d partitions", got, tb.Partitions())
	}
	for p := range tb.Partitions() {
		o := tb.OwnerIndex(p)
		if o < 0 || o >= n {
			t.Fatalf("partition %d: owner index %d out of range", p, o)
		}
		bs := tb.BackupIndexes(p)
		if len(bs) != want {
			t.Fatalf("partition %d: %d backups, want %d", p, len(bs), want)
		}
		seen := map[int]bool{o: true}
		for _, b := range bs {
			if b < 0 || b >= n || seen[b] {
				t.Fatalf("partition %d: bad backup %d (owner %d, backups %v)", p, b, o, bs)
			}
			seen[b] = true
		}
	}
}

func TestNewErrors(t *testing.T) {
	small := Config{Partitions: 3}
	tests := []struct {
		name    string
		cfg     Config
		members []Member
		want    error
	}{
		{"nil members", DefaultConfig(), nil, ErrNoMembers},
		{"empty members", DefaultConfig(), []Member{}, ErrNoMembers},
		{"empty id", DefaultConfig(), []Member{{ID: "a"}, {Addr: "x:1"}}, ErrInvalidMember},
		{"duplicate", DefaultConfig(), []Member{{ID: "a"}, {ID: "b"}, {ID: "a", Addr: "other"}}, ErrDuplicateMember},
		{"too many members", small, members(4), ErrTooManyMembers},
		{"invalid config", Config{}, members(1), ErrInvalidConfig},
		{"load one", Config{Partitions: 271, Load: 1}, members(100), ErrInvalidConfig},
		{"one virtual node", Config{Partitions: 10, VirtualNodes: 1}, members(1), ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := New(tt.cfg, 1, tt.members)
			if !errors.Is(err, tt.want) || tb != nil {
				t.Fatalf("New = %v, %v; want nil, %v", tb, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "ring: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			if errors.Is(err, ErrTooManyMembers) && !strings.Contains(err.Error(), "--partitions") {
				t.Fatalf("error %q does not name the flag to raise", err)
			}
		})
	}
}

func TestNewShapes(t *testing.T) {
	tests := []struct {
		name       string
		partitions int
		backups    int
		n          int
	}{
		{"one member", 271, 0, 1},
		{"one member wants backups", 271, 2, 1},
		{"two members two backups", 271, 2, 2},
		{"three members one backup", 271, 1, 3},
		{"sixteen members two backups", 271, 2, 16},
		{"one partition one member", 1, 1, 1},
		{"members equal partitions", 7, 3, 7},
		{"as many members as partitions", 61, 1, 61},
		{"one member fewer", 61, 0, 60},
	}
	for _, tt := range tests {
		for _, v := range placements {
			t.Run(fmt.Sprintf("%s/v%d", tt.name, v), func(t *testing.T) {
				cfg := DefaultConfig()
				cfg.Partitions, cfg.Backups, cfg.Placement = tt.partitions, tt.backups, v
				tb := mustNew(t, cfg, 9, members(tt.n))
				checkInvariants(t, tb)
				if tb.Epoch() != 9 || tb.Partitions() != tt.partitions || tb.BackupCount() != tt.backups {
					t.Fatalf("table %v does not reflect its inputs", tb)
				}
				hi, mean := tb.Load()
				if limit := capacity(tt.partitions, tt.n, cfg.Load); hi > float64(limit) {
					t.Fatalf("max load %v > capacity %d (mean %v)", hi, limit, mean)
				}
			})
		}
	}
}

// TestLoadBound checks max/mean <= Load for every member count where the
// partition count allows it, and max <= ceil(P/N) otherwise; the same for
// backup slots. With placement v1, large member counts use few virtual
// nodes: consistent's cost grows as N squared times VirtualNodes.
func TestLoadBound(t *testing.T) {
	var sizes []int
	for n := 1; n <= 24; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 32, 48, 64, 100, 136, 150, 200, 270, 271)
	for _, v := range placements {
		for _, n := range sizes {
			cfg := DefaultConfig()
			cfg.Backups, cfg.Placement = 1, v
			if n > 64 && v == PlacementV1 {
				cfg.VirtualNodes = 8
			}
			checkLoadBound(t, cfg, n)
		}
	}
	// Placements v2 and v3 at the sizes they are for.
	for _, v := range []int{PlacementV2, PlacementV3} {
		for _, size := range []struct{ n, p int }{{100, 4096}, {500, 16384}, {1000, 16384}, {1000, 1024}} {
			cfg := DefaultConfig()
			cfg.Partitions, cfg.Backups, cfg.Placement = size.p, 2, v
			checkLoadBound(t, cfg, size.n)
		}
	}
}

// checkLoadBound checks the owner and backup loads of n members under cfg.
func checkLoadBound(t *testing.T, cfg Config, n int) {
	t.Helper()
	tb := mustNew(t, cfg, 1, members(n))
	hi, mean := tb.Load()
	ceil := float64((cfg.Partitions + n - 1) / n)
	if hi/mean > cfg.Load && hi > ceil {
		t.Errorf("v%d N=%d P=%d: max %v, mean %.2f: max/mean %.3f > %v", cfg.Placement, n, cfg.Partitions, hi, mean, hi/mean, cfg.Load)
	}
	if n <= 16 && hi/mean > 1.25 {
		t.Errorf("v%d N=%d: max/mean %.3f > 1.25", cfg.Placement, n, hi/mean)
	}
	counts := make([]int, n)
	for p := range tb.Partitions() {
		for _, b := range tb.BackupIndexes(p) {
			counts[b]++
		}
	}
	if n > 1 {
		if top, limit := slices.Max(counts), capacity(cfg.Partitions*min(cfg.Backups, n-1), n, cfg.Load); top > limit {
			t.Errorf("v%d N=%d P=%d: a member backs up %d partitions, capacity %d", cfg.Placement, n, cfg.Partitions, top, limit)
		}
	}
}

func TestZones(t *testing.T) {
	zoned := func(spec ...string) []Member {
		var ms []Member
		for i, z := range spec {
			ms = append(ms, Member{ID: fmt.Sprintf("n%d", i), Zone: z})
		}
		return ms
	}
	tests := []struct {
		name    string
		members []Member
		backups int
		zones   int // distinct zones every partition must span
	}{
		{"three zones two backups", zoned("a", "a", "b", "b", "c", "c"), 2, 3},
		{"three zones one backup", zoned("a", "b", "c", "a", "b", "c", "a"), 1, 2},
		{"two zones two backups", zoned("a", "a", "a", "b", "b", "b"), 2, 2},
		{"lone member in its zone", zoned("a", "a", "a", "a", "a", "b"), 1, 2},
		{"one zone", zoned("a", "a", "a"), 2, 1},
		{"no zones", zoned("", "", "", ""), 1, 1},
	}
	for _, tt := range tests {
		for _, v := range placements {
			t.Run(fmt.Sprintf("%s/v%d", tt.name, v), func(t *testing.T) {
				cfg := DefaultConfig()
				cfg.Backups, cfg.Placement = tt.backups, v
				tb := mustNew(t, cfg, 1, tt.members)
				checkInvariants(t, tb)
				for p := range tb.Partitions() {
					zs := map[string]bool{tb.Owner(p).Zone: true}
					for _, b := range tb.BackupsOf(p) {
						zs[b.Zone] = true
					}
					if len(zs) != tt.zones {
						t.Fatalf("partition %d spans zones %v, want %d", p, zs, tt.zones)
					}
				}
			})
		}
	}
}

func TestAmbiguousIDs(t *testing.T) {
	// With bare IDs, consistent names point 10 of "a" and point 0 of "a1"
	// both "a10". The NUL separator keeps every member's points its own.
	ms := []Member{{ID: "a"}, {ID: "a1"}, {ID: "a10"}, {ID: "a11"}, {ID: "a1\x000"}}
	cfg := DefaultConfig()
	cfg.Backups, cfg.Placement = 1, PlacementV1
	tb := mustNew(t, cfg, 1, ms)
	checkInvariants(t, tb)
	ring := buildRing(tb.Members(), cfg.VirtualNodes)
	for i := 1; i < len(ring); i++ {
		if ring[i].hash == ring[i-1].hash {
			t.Fatalf("two ring points share hash %x", ring[i].hash)
		}
	}
	for _, m := range ms {
		if len(tb.Owned(m.ID)) == 0 {
			t.Errorf("member %q owns nothing", m.ID)
		}
	}
}

func TestRecoverPanic(t *testing.T) {
	// One virtual node and one member: consistent's walk never visits the
	// only point and panics "not enough room". Validate forbids it; the
	// placement must still turn the panic into an error.
	owners, err := placeOwners([]string{"a"}, 10, 1, 1.25)
	if !errors.Is(err, ErrPlacement) || owners != nil {
		t.Fatalf("placeOwners = %v, %v; want ErrPlacement", owners, err)
	}
	if !strings.Contains(err.Error(), "not enough room") {
		t.Fatalf("error %q does not carry the panic value", err)
	}
	if _, err := placeOwners([]string{"a", "b"}, 1, 20, 1.25); !errors.Is(err, ErrTooManyMembers) {
		t.Fatalf("placeOwners with more members than partitions: %v", err)
	}
	if _, err := placeOwners(nil, 1, 20, 1.25); !errors.Is(err, ErrNoMembers) {
		t.Fatalf("placeOwners with no members: %v", err)
	}
}

func TestAccessors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Backups = 2
	ms := members(5)
	ms[0], ms[4] = ms[4], ms[0] // unsorted input
	tb := mustNew(t, cfg, 3, ms)

	got := tb.Members()
	if len(got) != 5 || got[0].ID != "node-00" || got[4].ID != "node-04" {
		t.Fatalf("Members() = %v", got)
	}
	got[0].ID = "changed"
	if tb.Members()[0].ID != "node-00" {
		t.Fatal("Members() aliases the table")
	}
	owners := tb.Owners()
	owners[0] = -1
	if tb.OwnerIndex(0) == -1 {
		t.Fatal("Owners() aliases the table")
	}

	for i, m := range tb.Members() {
		if tb.MemberIndex(m.ID) != i {
			t.Fatalf("MemberIndex(%q) = %d, want %d", m.ID, tb.MemberIndex(m.ID), i)
		}
		if got, ok := tb.Member(m.ID); !ok || got != m {
			t.Fatalf("Member(%q) = %v, %v", m.ID, got, ok)
		}
	}
	for _, id := range []string{"", "node-5", "node-0", "zzz"} {
		if tb.MemberIndex(id) != -1 || tb.Owned(id) != nil || tb.BackedUp(id) != nil {
			t.Fatalf("unknown member %q found", id)
		}
		if _, ok := tb.Member(id); ok {
			t.Fatalf("Member(%q) found", id)
		}
	}

	owned, backed := 0, 0
	for _, m := range tb.Members() {
		for _, p := range tb.Owned(m.ID) {
			if tb.Owner(p).ID != m.ID {
				t.Fatalf("Owned(%q) lists %d, owned by %q", m.ID, p, tb.Owner(p).ID)
			}
			owned++
		}
		for _, p := range tb.BackedUp(m.ID) {
			if !slices.Contains(tb.BackupsOf(p), m) {
				t.Fatalf("BackedUp(%q) lists %d, backups %v", m.ID, p, tb.BackupsOf(p))
			}
			backed++
		}
	}
	if owned != cfg.Partitions || backed != 2*cfg.Partitions {
		t.Fatalf("Owned covers %d partitions, BackedUp %d; want %d, %d", owned, backed, cfg.Partitions, 2*cfg.Partitions)
	}
	for p := range tb.Partitions() {
		if tb.Owner(p) != tb.Members()[tb.OwnerIndex(p)] {
			t.Fatalf("Owner(%d) disagrees with OwnerIndex", p)
		}
	}

	if tb.Config() != cfg {
		t.Fatalf("Config() = %+v, want %+v", tb.Config(), cfg)
	}
	s := tb.String()
	for _, want := range []string{"epoch: 3", fmt.Sprintf("%016x", tb.Hash()), "partitions: 271", "backups: 2", "members: 5"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q lacks %q", s, want)
		}
	}
}

func TestBackupsOfNone(t *testing.T) {
	tb := mustNew(t, DefaultConfig(), 1, members(3))
	for p := range tb.Partitions() {
		if tb.BackupsOf(p) != nil || len(tb.BackupIndexes(p)) != 0 {
			t.Fatalf("partition %d has backups with Backups = 0", p)
		}
	}
}

func TestHash(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Backups = 1
	base := mustNew(t, cfg, 1, members(4))
	if base.WithEpoch(7).Hash() != base.Hash() || base.WithEpoch(7).Epoch() != 7 || base.Epoch() != 1 {
		t.Fatal("WithEpoch changed the hash or the original")
	}
	if mustNew(t, cfg, 99, members(4)).Hash() != base.Hash() {
		t.Fatal("hash depends on the epoch")
	}
	other := func(edit func(*Config, []Member)) uint64 {
		c, ms := cfg, members(4)
		edit(&c, ms)
		return mustNew(t, c, 1, ms).Hash()
	}
	tests := map[string]func(*Config, []Member){
		"addr":       func(_ *Config, ms []Member) { ms[2].Addr = "127.0.0.1:1" },
		"zone":       func(_ *Config, ms []Member) { ms[1].Zone = "z" },
		"id":         func(_ *Config, ms []Member) { ms[3].ID = "node-99" },
		"partitions": func(c *Config, _ []Member) { c.Partitions = 277 },
		"backups":    func(c *Config, _ []Member) { c.Backups = 2 },
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			if other(edit) == base.Hash() {
				t.Fatalf("hash ignores %s", name)
			}
		})
	}
}

func TestPartitionOf(t *testing.T) {
	tb := mustNew(t, DefaultConfig(), 1, members(3))
	for _, k := range []string{"", "a", "user:42", strings.Repeat("x", 1000)} {
		want := int(xxhash.Sum64String(k) % 271)
		if got := PartitionOf([]byte(k), 271); got != want {
			t.Fatalf("PartitionOf(%q) = %d, want %d", k, got, want)
		}
		if got := tb.PartitionOf([]byte(k)); got != want {
			t.Fatalf("Table.PartitionOf(%q) = %d, want %d", k, got, want)
		}
	}
	if PartitionOf([]byte("k"), 1) != 0 {
		t.Fatal("PartitionOf with one partition")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("PartitionOf(key, 0) did not panic")
		}
	}()
	PartitionOf([]byte("k"), 0)
}

func TestFromAssignment(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Partitions, cfg.Backups = 4, 1
	ms := members(3)
	good := func() ([]int, [][]int) { return []int{0, 1, 2, 0}, [][]int{{1}, {2}, {0}, {2}} }
	tests := []struct {
		name string
		edit func(cfg *Config, ms *[]Member, owners *[]int, backups *[][]int)
		want error
	}{
		{"valid", func(*Config, *[]Member, *[]int, *[][]int) {}, nil},
		{"nil backups", func(_ *Config, _ *[]Member, _ *[]int, b *[][]int) { *b = nil }, nil},
		{"fewer backups than configured", func(_ *Config, _ *[]Member, _ *[]int, b *[][]int) { (*b)[2] = nil }, nil},
		{"bad config", func(c *Config, _ *[]Member, _ *[]int, _ *[][]int) { c.Partitions = 0 }, ErrInvalidConfig},
		{"no members", func(_ *Config, m *[]Member, _ *[]int, _ *[][]int) { *m = nil }, ErrNoMembers},
		{"duplicate member", func(_ *Config, m *[]Member, _ *[]int, _ *[][]int) { (*m)[1].ID = (*m)[0].ID }, ErrDuplicateMember},
		{"empty id", func(_ *Config, m *[]Member, _ *[]int, _ *[][]int) { (*m)[1].ID = "" }, ErrInvalidMember},
		{"too many members", func(_ *Config, m *[]Member, _ *[]int, _ *[][]int) { *m = members(5) }, ErrTooManyMembers},
		{"short owners", func(_ *Config, _ *[]Member, o *[]int, _ *[][]int) { *o = (*o)[:3] }, ErrInvalidAssignment},
		{"long owners", func(_ *Config, _ *[]Member, o *[]int, _ *[][]int) { *o = append(*o, 0) }, ErrInvalidAssignment},
		{"owner too big", func(_ *Config, _ *[]Member, o *[]int, _ *[][]int) { (*o)[1] = 3 }, ErrInvalidAssignment},
		{"owner negative", func(_ *Config, _ *[]Member, o *[]int, _ *[][]int) { (*o)[1] = -1 }, ErrInvalidAssignment},
		{"short backups", func(_ *Config, _ *[]Member, _ *[]int, b *[][]int) { *b = (*b)[:2] }, ErrInvalidAssignment},
		{"backup too big", func(_ *Config, _ *[]Member, _ *[]int, b *[][]int) { (*b)[0] = []int{3} }, ErrInvalidAssignment},
		{"backup negative", func(_ *Config, _ *[]Member, _ *[]int, b *[][]int) { (*b)[0] = []int{-1} }, ErrInvalidAssignment},
		{"backup is owner", func(_ *Config, _ *[]Member, _ *[]int, b *[][]int) { (*b)[1] = []int{1} }, ErrInvalidAssignment},
		{"too many backups", func(_ *Config, _ *[]Member, _ *[]int, b *[][]int) { (*b)[0] = []int{1, 2} }, ErrInvalidAssignment},
		{"repeated backup", func(c *Config, _ *[]Member, _ *[]int, b *[][]int) { c.Backups = 2; (*b)[0] = []int{1, 1} }, ErrInvalidAssignment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, m := cfg, slices.Clone(ms)
			o, b := good()
			tt.edit(&c, &m, &o, &b)
			tb, err := FromAssignment(c, 5, m, o, b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("FromAssignment = %v, want %v", err, tt.want)
			}
			if err != nil {
				if tb != nil {
					t.Fatal("table returned with an error")
				}
				return
			}
			for p := range tb.Partitions() {
				if tb.Owner(p).ID != m[o[p]].ID {
					t.Fatalf("partition %d owned by %q, want %q", p, tb.Owner(p).ID, m[o[p]].ID)
				}
			}
		})
	}
}

func TestFromAssignmentRenumbers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Partitions, cfg.Backups = 3, 1
	ms := []Member{{ID: "c"}, {ID: "a"}, {ID: "b"}}
	tb, err := FromAssignment(cfg, 1, ms, []int{0, 1, 2}, [][]int{{1}, {2}, {0}})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ owner, backup string }{{"c", "a"}, {"a", "b"}, {"b", "c"}}
	for p, w := range want {
		if tb.Owner(p).ID != w.owner || tb.BackupsOf(p)[0].ID != w.backup {
			t.Fatalf("partition %d: owner %q backups %v, want %q, %q", p, tb.Owner(p).ID, tb.BackupsOf(p), w.owner, w.backup)
		}
	}
	if !slices.Equal(tb.Owners(), []int{2, 0, 1}) {
		t.Fatalf("Owners() = %v, want indexes into sorted members", tb.Owners())
	}
}

func TestDiff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Backups = 1
	a := mustNew(t, cfg, 1, members(3))
	if d := Diff(a, a.WithEpoch(2)); len(d) != 0 {
		t.Fatalf("Diff of equal tables = %v", d)
	}
	all := Diff(nil, a)
	if len(all) != cfg.Partitions {
		t.Fatalf("Diff(nil, t) has %d moves", len(all))
	}
	for p, m := range all {
		if m.Partition != p || m.From != "" || m.BackupsFrom != nil || m.To != a.Owner(p).ID || len(m.BackupsTo) != 1 || !m.OwnerChanged() {
			t.Fatalf("Diff(nil, t)[%d] = %+v", p, m)
		}
	}

	b := mustNew(t, cfg, 2, members(4))
	moves := Diff(a, b)
	gained := 0
	for i, m := range moves {
		if i > 0 && moves[i-1].Partition >= m.Partition {
			t.Fatal("moves not sorted by partition")
		}
		if m.From != a.Owner(m.Partition).ID || m.To != b.Owner(m.Partition).ID {
			t.Fatalf("move %+v disagrees with the tables", m)
		}
		if !m.OwnerChanged() && slices.Equal(m.BackupsFrom, m.BackupsTo) {
			t.Fatalf("move %+v changes nothing", m)
		}
		if m.To == "node-03" {
			gained++
		}
	}
	if gained != len(b.Owned("node-03")) {
		t.Fatalf("new member gains %d partitions in Diff, owns %d", gained, len(b.Owned("node-03")))
	}

	// A larger partition count: the extra partitions are new.
	c2 := cfg
	c2.Partitions = 300
	c := mustNew(t, c2, 3, members(3))
	for _, m := range Diff(a, c) {
		if m.Partition >= 271 && m.From != "" {
			t.Fatalf("partition %d missing from old table has From %q", m.Partition, m.From)
		}
	}
}
