package ring

import "bytes"

// SlotCount is the number of Redis Cluster hash slots.
const SlotCount = 16384

// crc16Table is the table of CRC-16/XMODEM (polynomial 0x1021, initial
// value 0, no reflection), the CRC Redis Cluster hashes keys with.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC16 returns the CRC-16/XMODEM of b (Redis's crc16.c).
func CRC16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c<<8 ^ crc16Table[byte(c>>8)^x]
	}
	return c
}

// Slot returns the Redis Cluster hash slot of key: CRC16(key) mod
// SlotCount, or, when key has a hash tag (a '{', then a '}' after it with
// at least one byte between, the first such pair), of the bytes between
// them only, so that keys with one tag share a slot. This is the Redis
// Cluster specification's HASH_SLOT.
func Slot(key []byte) int {
	if s := bytes.IndexByte(key, '{'); s >= 0 {
		if e := bytes.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	return int(CRC16(key) % SlotCount)
}

// SlotPartition returns the partition of a slot among partitions:
// slot*partitions/SlotCount, so that each partition holds a contiguous
// range of slots (none when partitions > SlotCount leaves it out).
func SlotPartition(slot, partitions int) int { return slot * partitions / SlotCount }

// SlotRange returns the first and last slot of partition p among
// partitions, the slots SlotPartition maps to p; first > last when there
// are none.
func SlotRange(p, partitions int) (first, last int) {
	first = (p*SlotCount + partitions - 1) / partitions
	last = ((p+1)*SlotCount+partitions-1)/partitions - 1
	return first, last
}
