package ring

import (
	"errors"
	"fmt"
	"testing"
)

// TestCRC16 checks the check value of CRC-16/XMODEM and the vectors of the
// Redis Cluster specification.
func TestCRC16(t *testing.T) {
	if got := CRC16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("CRC16(123456789) = %#x, want 0x31c3 (the spec's check value)", got)
	}
	for _, tc := range []struct {
		key  string
		slot int
	}{
		{"foo", 12182},
		{"bar", 5061},
		{"123456789", 12739},
		{"{user1000}.following", Slot([]byte("user1000"))},
		{"{user1000}.followers", Slot([]byte("user1000"))},
		{"foo{}{bar}", int(CRC16([]byte("foo{}{bar}")) % SlotCount)}, // empty first tag: whole key
		{"foo{{bar}}zap", Slot([]byte("{bar"))},                      // tag is "{bar"
		{"foo{bar}{zap}", Slot([]byte("bar"))},                       // first tag only
		{"{bar", int(CRC16([]byte("{bar")) % SlotCount)},             // no closing brace
		{"", 0},
	} {
		if got := Slot([]byte(tc.key)); got != tc.slot {
			t.Errorf("Slot(%q) = %d, want %d", tc.key, got, tc.slot)
		}
	}
}

// TestSlotRanges: for several partition counts, the slot ranges of the
// partitions are contiguous, in order, cover every slot once, and agree
// with SlotPartition.
func TestSlotRanges(t *testing.T) {
	for _, p := range []int{1, 3, 271, 1024, 16384, 20000} {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			next := 0
			for i := range p {
				first, last := SlotRange(i, p)
				if first > last {
					continue
				}
				if first != next {
					t.Fatalf("partition %d starts at slot %d, want %d", i, first, next)
				}
				for _, s := range []int{first, last} {
					if got := SlotPartition(s, p); got != i {
						t.Fatalf("SlotPartition(%d, %d) = %d, want %d", s, p, got, i)
					}
				}
				next = last + 1
			}
			if next != SlotCount {
				t.Fatalf("ranges end at %d", next)
			}
		})
	}
}

// TestTableKeyHash: a table with KeyHashSlots places keys by slot, one with
// the default by xxhash; Validate refuses other values.
func TestTableKeyHash(t *testing.T) {
	members := []Member{{ID: "a"}, {ID: "b"}}
	cfg := DefaultConfig()
	xx, err := New(cfg, 1, members)
	if err != nil {
		t.Fatal(err)
	}
	cfg.KeyHash = KeyHashSlots
	sl, err := New(cfg, 1, members)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"foo", "bar", "{user1000}.following"} {
		if got, want := sl.PartitionOf([]byte(k)), SlotPartition(Slot([]byte(k)), cfg.Partitions); got != want {
			t.Errorf("slots table: PartitionOf(%q) = %d, want %d", k, got, want)
		}
		if got, want := xx.PartitionOf([]byte(k)), PartitionOf([]byte(k), cfg.Partitions); got != want {
			t.Errorf("xxhash table: PartitionOf(%q) = %d, want %d", k, got, want)
		}
	}
	if sl.Hash() != xx.Hash() {
		t.Error("the key hash changed the table hash (clients rebuild tables without it)")
	}
	cfg.KeyHash = 2
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Validate key hash 2: %v", err)
	}
}
