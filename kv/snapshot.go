package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

// Snapshot format (all integers little endian; see also doc.go):
//
//	header: "NSKV" | version u8 | count u64 | crc32c u32 (of the 13 bytes before it)
//	chunk:  length u32 | records u32 | payload | crc32c u32 (of length, records, payload)
//	...     more chunks, each with records > 0 and length > 0
//	end:    length u32 = 0 | records u32 = 0 | crc32c u32
//	record, v1: uvarint key length | key | uvarint value length | value | deadline i64
//	record, v2: deadline i64 | key length u32 | value length u32 | key | value
//
// The deadline is in unix nanoseconds, 0 for none. count is the total of the
// chunks' records. A v2 record is the tail of a page record (slab.go), so
// Snapshot copies it out of the page in one piece.
const (
	snapMagic      = "NSKV"
	snapV1         = 1
	snapV2         = 2
	v2RecordHeader = 16
	snapHeaderLen  = 4 + 1 + 8 + 4
	frameHeaderLen = 8
	chunkTarget    = 64 << 10 // payload bytes at which a chunk is cut
	readStep       = 1 << 20  // restore allocates at most this much ahead of the data read
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot writes every key, with its value and deadline (expired keys not
// yet removed included), to w in the framed, checksummed format Restore
// reads: v1 unless the store's Config asks for v2. The caller runs it in the
// worker that owns the store, so it sees one consistent point; it makes one
// Write per chunk of about 64 KiB. An error from w is returned as it is.
func (s *Store) Snapshot(w io.Writer) error {
	version := byte(snapV1)
	if s.cfg.SnapshotVersion == snapV2 {
		version = snapV2
	}
	buf := make([]byte, 0, chunkTarget+chunkTarget/4)
	buf = append(buf, snapMagic...)
	buf = append(buf, version)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(s.count))
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	if _, err := w.Write(buf); err != nil {
		return err
	}

	buf = buf[:frameHeaderLen]
	records := 0
	var err error
	for p := range s.pages {
		pg := &s.pages[p]
		if pg.live == 0 {
			continue
		}
		for off := 0; off < pg.used; {
			r := pg.data[off:pg.used]
			size := le32(r, hSize)
			off += size &^ deadBit
			if size&deadBit != 0 {
				continue
			}
			kl, vl := le32(r, hKlen), le32(r, hVlen)
			if version == snapV2 {
				buf = append(buf, r[hDeadline:recHeader+kl+vl]...)
			} else {
				buf = binary.AppendUvarint(buf, uint64(kl))
				buf = append(buf, r[recHeader:recHeader+kl]...)
				buf = binary.AppendUvarint(buf, uint64(vl))
				buf = append(buf, r[recHeader+kl:recHeader+kl+vl]...)
				buf = binary.LittleEndian.AppendUint64(buf, uint64(recDeadline(r)))
			}
			records++
			if len(buf)-frameHeaderLen >= chunkTarget {
				if buf, err = writeFrame(w, buf, records); err != nil {
					return err
				}
				records = 0
			}
		}
	}
	if records > 0 {
		if buf, err = writeFrame(w, buf, records); err != nil {
			return err
		}
	}
	_, err = writeFrame(w, buf, 0)
	return err
}

// writeFrame completes the frame in buf (a reserved header, then the
// payload), writes it, and returns buf reset for the next frame.
func writeFrame(w io.Writer, buf []byte, records int) ([]byte, error) {
	n := len(buf) - frameHeaderLen
	if uint64(n) > math.MaxUint32 {
		return buf, fmt.Errorf("kv: snapshot record of %d bytes is too large", n)
	}
	binary.LittleEndian.PutUint32(buf[0:], uint32(n))
	binary.LittleEndian.PutUint32(buf[4:], uint32(records))
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	if _, err := w.Write(buf); err != nil {
		return buf, err
	}
	return buf[:frameHeaderLen], nil
}

// Restore replaces the store's content with a snapshot read from r, in
// format v1 or v2. It verifies the header and every chunk's checksum and reads exactly the
// snapshot's bytes, nothing after it. Malformed input yields an error
// wrapping ErrCorrupt (ErrTruncated when r ends early, ErrVersion for an
// unknown version); a read error from r is returned wrapped. On any error the
// store is left unchanged: the new content is built aside and swapped in at
// the end. Allocation is bounded by the input actually read, whatever
// lengths the input claims. The memory of the restored content is charged to
// the store's Limit even past its maximum: a handoff or a recovery never
// fails for lack of budget.
func (s *Store) Restore(r io.Reader) error {
	var hdr [snapHeaderLen]byte
	if err := readFull(r, hdr[:]); err != nil {
		return err
	}
	if string(hdr[:4]) != snapMagic {
		return corruptf("bad snapshot magic %q", hdr[:4])
	}
	version := hdr[4]
	if version != snapV1 && version != snapV2 {
		return fmt.Errorf("%w: snapshot version %d", ErrVersion, hdr[4])
	}
	if crc32.Checksum(hdr[:13], castagnoli) != binary.LittleEndian.Uint32(hdr[13:]) {
		return corruptf("snapshot header checksum mismatch")
	}
	count := binary.LittleEndian.Uint64(hdr[5:13])

	// ns is built outside any Limit and charged to s's when complete.
	ns := newStore(Config{}, s.minPage, s.maxPage)
	var payload []byte
	var restored uint64
	for {
		var fh [frameHeaderLen]byte
		if err := readFull(r, fh[:]); err != nil {
			return err
		}
		n := binary.LittleEndian.Uint32(fh[0:])
		records := binary.LittleEndian.Uint32(fh[4:])
		if (n == 0) != (records == 0) {
			return corruptf("snapshot chunk of %d bytes with %d records", n, records)
		}
		if uint64(records) > count-restored {
			return corruptf("snapshot has more records than its header's %d", count)
		}
		var err error
		if payload, err = readPayload(r, payload[:0], int(n)); err != nil {
			return err
		}
		var sum [4]byte
		if err := readFull(r, sum[:]); err != nil {
			return err
		}
		crc := crc32.Update(crc32.Checksum(fh[:], castagnoli), castagnoli, payload)
		if crc != binary.LittleEndian.Uint32(sum[:]) {
			return corruptf("snapshot chunk checksum mismatch after %d records", restored)
		}
		if records == 0 {
			if restored != count {
				return corruptf("snapshot ends after %d of %d records", restored, count)
			}
			s.install(ns)
			return nil
		}
		if err := ns.restoreChunk(version, payload, int(records)); err != nil {
			return err
		}
		restored += uint64(records)
	}
}

// install replaces s's content with ns's, moving ns's memory to s's
// account.
func (s *Store) install(ns *Store) {
	ns.migrate(len(ns.old)) // Restore is O(keys) anyway: end with one table
	releaseAccount(s.acct)
	s.acct.charge(int(ns.acct.held), true)
	ns.acct, ns.cfg = s.acct, s.cfg
	*s = *ns
}

// restoreChunk adds the records of one verified chunk payload.
func (s *Store) restoreChunk(version byte, payload []byte, records int) error {
	d := decoder{b: payload}
	for range records {
		var key, value []byte
		var deadline int64
		if version == snapV2 {
			if len(d.b) < v2RecordHeader {
				return fmt.Errorf("snapshot record: %w", ErrTruncated)
			}
			deadline = int64(binary.LittleEndian.Uint64(d.b))
			kl := uint64(binary.LittleEndian.Uint32(d.b[8:]))
			vl := uint64(binary.LittleEndian.Uint32(d.b[12:]))
			d.b = d.b[v2RecordHeader:]
			if kl+vl > uint64(len(d.b)) {
				return fmt.Errorf("snapshot record: %w", ErrTruncated)
			}
			key, value = d.b[:kl], d.b[kl:kl+vl]
			d.b = d.b[kl+vl:]
		} else {
			key = d.bytes(false)
			value = d.bytes(false)
			if d.err == nil && len(d.b) < 8 {
				d.err = ErrTruncated
			}
			if d.err != nil {
				return fmt.Errorf("snapshot record: %w", d.err)
			}
			deadline = int64(binary.LittleEndian.Uint64(d.b))
			d.b = d.b[8:]
		}
		h := hashKey(key)
		i, _, found := s.lookup(h, key)
		if found {
			return corruptf("snapshot holds key %q twice", key)
		}
		if _, err := s.store(h, i, 0, false, key, value, deadline, 0); err != nil {
			// Only a store full of pages (errPagesFull) gets here: s has
			// no Limit.
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	if len(d.b) != 0 {
		return corruptf("snapshot chunk has %d bytes after its %d records", len(d.b), records)
	}
	return nil
}

// readFull fills p from r, mapping a short read to ErrTruncated.
func readFull(r io.Reader, p []byte) error {
	_, err := io.ReadFull(r, p)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w snapshot", ErrTruncated)
	default:
		return fmt.Errorf("kv: reading snapshot: %w", err)
	}
}

// readPayload reads n bytes into buf, growing it no more than readStep ahead
// of the bytes actually received, so a forged length cannot force a large
// allocation.
func readPayload(r io.Reader, buf []byte, n int) ([]byte, error) {
	for len(buf) < n {
		step := min(n-len(buf), readStep)
		start := len(buf)
		buf = slices.Grow(buf, step)[:start+step]
		if err := readFull(r, buf[start:]); err != nil {
			return buf[:0], err
		}
	}
	return buf, nil
}
