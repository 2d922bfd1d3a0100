package ring_test

import (
	"fmt"

	"github.com/nothingshared/ns/ring"
)

// Example builds the table of a three-member cluster with one backup per
// partition and routes a key.
func Example() {
	cfg := ring.DefaultConfig()
	cfg.Backups = 1
	table, err := ring.New(cfg, 1, []ring.Member{
		{ID: "node-c", Addr: "127.0.0.1:7702", Zone: "z3"},
		{ID: "node-a", Addr: "127.0.0.1:7700", Zone: "z1"},
		{ID: "node-b", Addr: "127.0.0.1:7701", Zone: "z2"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	key := []byte("user:42")
	p := table.PartitionOf(key)
	owner := table.Owner(p)
	fmt.Printf("key %q -> partition %d -> owner %s at %s\n", key, p, owner.ID, owner.Addr)
	for _, b := range table.BackupsOf(p) {
		fmt.Printf("backup %s in %s\n", b.ID, b.Zone)
	}
	fmt.Println(len(table.Owned("node-a"))+len(table.Owned("node-b"))+len(table.Owned("node-c")), "partitions")
	// Output:
	// key "user:42" -> partition 195 -> owner node-b at 127.0.0.1:7701
	// backup node-a in z1
	// 271 partitions
}

// ExampleDiff shows the partitions that move when a fourth member joins.
func ExampleDiff() {
	cfg := ring.DefaultConfig()
	members := []ring.Member{{ID: "node-a"}, {ID: "node-b"}, {ID: "node-c"}}
	before, _ := ring.New(cfg, 1, members)
	after, _ := ring.New(cfg, 2, append(members, ring.Member{ID: "node-d"}))

	moved, toD := 0, 0
	for _, m := range ring.Diff(before, after) {
		if m.OwnerChanged() {
			moved++
		}
		if m.To == "node-d" {
			toD++
		}
	}
	fmt.Printf("%d of %d partitions change owner, %d of them to node-d\n", moved, after.Partitions(), toD)
	// Output:
	// 76 of 271 partitions change owner, 76 of them to node-d
}
