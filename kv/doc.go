// Package kv is the built-in key-value/counter service of ns: the state
// machine of one partition (Store) and the binary codec of its requests and
// responses.
//
// The package is pure: no network, no goroutines, no locks, no clock. One
// worker owns each Store and passes the current time to every call, which
// makes the state machine deterministic and testable with a fake clock.
//
// # Operations
//
// A Request names one Op on one key (any byte string, the empty one
// included; node/ enforces size limits):
//
//   - Get returns the value and the remaining time to live (0 when the key
//     does not expire). An absent or expired key is ErrNotFound.
//   - Put stores Value with TTL, replacing any previous value and TTL
//     (TTL 0 = no expiry, like Redis SET). A negative TTL is ErrInvalidTTL.
//   - Delete removes the key; Response.Found says whether it existed.
//     Deleting an absent key is not an error.
//   - Incr adds Delta to a counter and returns the result in
//     Response.Counter. An absent (or expired) key counts as 0 and is created
//     without expiry; an existing key keeps its TTL. A value that is not a
//     counter is ErrNotInteger; a result outside int64 is ErrOverflow, and
//     the value is left unchanged.
//   - CompareAndSwap stores Value with TTL (as Put does) only if the key
//     holds exactly Expected (an empty Expected matches an empty value, not
//     an absent key), or, with ExpectAbsent, only if the key is absent or
//     expired. Response.Swapped says whether it wrote; Response.Found and
//     Response.Value describe the key after the call (the new value when
//     swapped, the current value otherwise).
//
// RequestID is carried for idempotent retries; the Store does not act on it
// yet.
//
// # Counters
//
// Counters are stored as decimal ASCII, like Redis: after Incr by 5 on an
// absent key, Get returns "5", and a Put of "41" followed by Incr 1 yields
// 42. Incr accepts only the canonical form strconv.FormatInt writes: an
// optional '-', no '+', no spaces, no leading zeros, no "-0", at most 20
// bytes.
//
// # Time to live
//
// A value written at time now with TTL d has the deadline now+d and is
// expired from the deadline on: at now+d-1ns it is visible, at now+d it is
// not. Expiry is lazy: an operation that touches an expired key treats it as
// absent and removes it. ExpireSome removes expired keys actively, earliest
// deadline first, with work bounded by its max argument (the deadlines are
// kept in a min-heap); NextDeadline tells a worker when the next key
// expires. Len, Bytes, Range and Snapshot include expired keys not yet
// removed. Snapshots carry deadlines as absolute unix nanoseconds, so a key
// expires at the same instant on the node that restores it.
//
// # Codec
//
// Requests and responses are encoded compactly by AppendBinary and decoded
// by DecodeRequest and DecodeResponse. Integers are uvarints, signed ones
// zig-zag varints, durations uvarint nanoseconds, byte strings a uvarint
// length then the bytes.
//
//	request:  version=1 | op | flags | key | [value] | [expected] | [delta] | [ttl] | [request id]
//	response: version=1 | flags | [value] | [counter] | [ttl]
//
// Request flags: 0x01 value, 0x02 expected, 0x04 expect absent (no bytes),
// 0x08 delta, 0x10 ttl, 0x20 request id. Response flags: 0x01 found, 0x02
// swapped, 0x04 value, 0x08 counter, 0x10 ttl. A field is present, in the
// order shown, exactly when its flag is set, and its flag is set exactly
// when the field is non-zero and the op uses it, so each message has one
// encoding. The decoders take untrusted bytes: they accept only that
// canonical encoding (and minimal varints, no trailing bytes), return errors
// wrapping ErrCorrupt otherwise, never panic and never allocate; decoded byte
// fields alias the input.
//
// Which op uses which request field: get, delete: request id; put: value,
// ttl, request id; incr: delta, request id; cas: value, expected or expect
// absent, ttl, request id.
//
// # Storage
//
// A Store keeps its keys, values and deadlines in pages: plain []byte of 4
// KiB doubling up to 256 KiB (a record above 64 KiB gets a page of its own),
// which the garbage collector does not scan. A key is found through an
// open-addressing hash table of uint64 (xxhash tag and page location, no
// pointers); the expiry heap is a []uint32 of locations. Overwrites that fit
// the record are made in place; others move the record and leave a dead one
// behind. A page that falls under half live is compacted incrementally: each
// write moves a bounded number of live bytes (about twice its own size, and
// at least 1 KiB) out of it, each ExpireSome up to 64 KiB, and the page is
// freed when empty. The index grows the same way, a few slots per write, so
// no call stalls on a whole partition. Operations on existing keys, and
// inserts into a page with room, allocate nothing.
//
// # Memory limit
//
// A Store created with Config.Limit charges its pages, index and heap to
// that Limit, which stores may share. A write that would need memory past
// the limit fails with ErrMemoryFull and changes nothing; nothing stored is
// evicted. Bytes reports what the store holds. HandleReplay, Restore and
// compaction are never refused: copies that replay what an owner accepted
// must not diverge from it.
//
// # Snapshots
//
// Snapshot writes a header ("NSKV", version, key count, CRC-32C) and then
// chunks of about 64 KiB, each with its length, record count and CRC-32C,
// and an empty end chunk. A record is the key, the value and the deadline
// (int64 unix nanoseconds, 0 for none): in format v1, the default, a
// uvarint-prefixed key and value then the deadline; in format v2
// (Config.SnapshotVersion 2), the deadline, the two lengths as uint32 and
// the bytes, as they lie in the page. Restore reads both, verifies all of
// it, reads nothing past the end chunk, allocates in proportion to the bytes
// it has actually read, and replaces the store's content only when the whole
// snapshot is valid. docs/durability.md says when a cluster may turn v2 on.
package kv
