package transport

import (
	"errors"
	"testing"

	"github.com/nothingshared/ns/ring"
)

// TestTableKeyHashOnTheWire: the key hash travels with the table, so a
// client places keys as the nodes do; an unknown key hash is refused.
func TestTableKeyHashOnTheWire(t *testing.T) {
	for _, kh := range []int{ring.KeyHashXX, ring.KeyHashSlots} {
		cfg := ring.DefaultConfig()
		cfg.KeyHash = kh
		tb, err := ring.New(cfg, 3, []ring.Member{{ID: "a", Addr: "a:1"}, {ID: "b", Addr: "b:1"}})
		if err != nil {
			t.Fatal(err)
		}
		pt := TableToProto(tb)
		got, err := TableFromProto(pt)
		if err != nil {
			t.Fatal(err)
		}
		if got.Config().KeyHash != kh || got.Hash() != tb.Hash() {
			t.Fatalf("key hash %d came back as %d (hash %x vs %x)", kh, got.Config().KeyHash, got.Hash(), tb.Hash())
		}
		for _, k := range []string{"foo", "bar", "{x}y", "123456789"} {
			if got.PartitionOf([]byte(k)) != tb.PartitionOf([]byte(k)) {
				t.Fatalf("key hash %d: %q in partition %d on the wire, %d at the node", kh, k, got.PartitionOf([]byte(k)), tb.PartitionOf([]byte(k)))
			}
		}
		pt.KeyHash = 7
		if _, err := TableFromProto(pt); !errors.Is(err, ring.ErrInvalidConfig) {
			t.Fatalf("unknown key hash: %v, want ring.ErrInvalidConfig", err)
		}
	}
}
