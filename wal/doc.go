// Package wal is the durable storage of a node's partitions: one write-ahead
// log per worker, made of segment files holding the records of the
// partitions' writes, plus one snapshot file per partition.
//
// The package is a leaf: no goroutines, no locks, no logger, no clock of its
// own. A Log belongs to one worker goroutine, which appends the records of
// the writes it applies, syncs once per batch, and snapshots its partitions
// now and then. Failures come back as error values for the node to log,
// count and show in /readyz.
//
// # Life cycle
//
//	l, err := wal.Open(wal.Config{Dir: dir, Mode: wal.ModeBatch})
//	info, err := l.Recover(installSnapshot, applyRecord) // once, before appending
//	for each batch {
//		for each write applied: l.Append(wal.Record{...})
//		l.Sync()          // group commit: one fsync for the whole batch
//		release results   // only if Sync returned nil
//	}
//	l.SaveSnapshot(p, epoch, lsn, state) // now and then, per partition (see Pinned)
//	l.Close()
//
// # Durability modes
//
//   - ModeAlways: Append returns after the record is fsynced.
//   - ModeBatch: Append buffers; Sync writes and fsyncs once for everything
//     appended since the last Sync. The node acknowledges a batch only
//     after its Sync returned nil.
//   - ModeNever: Sync only hands the buffer to the kernel. Survives a crash
//     of the process, not of the machine: a power loss or kernel panic can
//     lose acknowledged writes (whatever the kernel had not written back).
//
// # Failures: the log fails closed
//
// The first failed write or fsync of a segment (disk full, I/O error) makes
// the log fail: the operation returns an error wrapping ErrFailed and the
// cause (errors.Is(err, syscall.ENOSPC) works), Err returns it from then
// on, and every later Append and Sync returns it without touching the disk.
// The log never acknowledges a write after a failed fsync, and never retries
// one (after a failed fsync Linux may have dropped the dirty pages, and a
// second fsync can succeed without the data being on disk). Records synced
// before the failure are safe. To resume, the node closes the log and opens
// it again once the cause is fixed; Recover truncates whatever half-written
// tail the failure left.
//
// A failed SaveSnapshot or Drop does not fail the log: the previous snapshot
// and every segment stay, and nothing acknowledged depends on the snapshot.
//
// # Files
//
// In Dir: segments "<seq as 16 hex digits>.wal", snapshots "<partition as 8
// hex digits>.snap", their temporaries "*.snap.tmp" (removed by Open), and
// "LOCK" (an flock held while the log is open: two logs on one directory is
// ErrLocked). Integers are little endian.
//
//	segment header: "NSWL" | version u8 (1) | 3 zero bytes | seq u64 | crc32c(previous 16 bytes) u32
//	frame:          length u32 | crc32c(length bytes ‖ body) u32 | body
//	body:           partition u32 | epoch u64 | lsn u64 | request id u64 | payload
//	snapshot:       "NSWS" | version u8 | flags u8 (1 = dropped) | 2 zero bytes | partition u32 |
//	                epoch u64 | lsn u64 | log position: segment u64, offset u64 |
//	                data length u64 | data | crc32c(everything before) u32
//
// All checksums are CRC32C (Castagnoli). A segment is sealed (written and
// fsynced, in every mode) before the next one is created, and a new
// segment's directory entry is fsynced before anything is appended to it, so
// only the last segment can have a torn tail.
//
// # Snapshots and what they cover
//
// A snapshot records the log position at the moment it was saved, and
// covers the partition's records before that position: Recover replays only
// the records at or after it. Positions, not LSNs, decide, because a
// partition's history can restart (handed away and back, or started empty
// after its data was lost with --backups 0) with LSNs lower than records of
// its older history still in the log; the node calls SaveSnapshot when it
// installs a partition's state from elsewhere, and Drop when it hands one
// away, so older history is never replayed on top of newer state.
//
// A sealed segment is deleted once, for every partition with records in it,
// a snapshot was saved after its last record there. Only the oldest segments
// are deleted (the log stays contiguous). Pinned names the partitions that
// keep the oldest segment alive: the node snapshots them to reclaim space.
// Deletions are not fsynced: a segment that comes back after a crash is
// still covered, skipped by Recover and deleted again.
//
// # Recovery
//
// Recover delivers each partition's latest snapshot, then scans the
// segments in order, verifies every frame and replays the records no
// snapshot covers. In the last segment the first frame that does not verify
// (short, impossible length, checksum mismatch) and everything after it is
// cut off and the cut fsynced: it can only hold records no Sync returned
// for, because a Sync covers everything appended before it. The cut is
// reported in RecoveryInfo for the node to log. A bit flip in a synced
// record of the last segment cannot be told apart from a torn tail, so it
// is cut the same way (and reported); in an older segment it is
// ErrCorrupt, and the node should refuse to start rather than serve data
// with a hole in it. Appends then go to a new segment.
//
// # Node integration (not done yet)
//
// One Log per worker, in <data-dir>/w<worker>. The worker appends a Record
// (partition, ownership epoch, LSN, request id, the replicated op) for each
// write it applies, calls Sync once per batch before releasing results (a
// Sync error turns the batch's write results into Unavailable and the node
// reports not ready), saves a snapshot when it installs a partition and
// periodically, and calls Drop when a partition leaves it. At start-up it
// opens each worker's log and installs what Recover delivers before it
// serves. If partitions can change worker between runs, the node must
// recover every worker's log before assigning partitions.
package wal
