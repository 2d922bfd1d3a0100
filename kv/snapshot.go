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
//	record: uvarint key length | key | uvarint value length | value | deadline i64
//
// The deadline is in unix nanoseconds, 0 for none. count is the total of the
// chunks' records.
const (
	snapMagic      = "NSKV"
	snapVersion    = 1
	snapHeaderLen  = 4 + 1 + 8 + 4
	frameHeaderLen = 8
	chunkTarget    = 64 << 10 // payload bytes at which a chunk is cut
	readStep       = 1 << 20  // restore allocates at most this much ahead of the data read
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot writes every key, with its value and deadline (expired keys not
// yet removed included), to w in the framed, checksummed format Restore
// reads. The caller runs it in the worker that owns the store, so it sees one
// consistent point; it makes one Write per chunk of about 64 KiB. An error
// from w is returned as it is.
func (s *Store) Snapshot(w io.Writer) error {
	buf := make([]byte, 0, chunkTarget+chunkTarget/4)
	buf = append(buf, snapMagic...)
	buf = append(buf, snapVersion)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(len(s.entries)))
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	if _, err := w.Write(buf); err != nil {
		return err
	}

	buf = buf[:frameHeaderLen]
	records := 0
	for i := range s.entries {
		e := &s.entries[i]
		buf = binary.AppendUvarint(buf, uint64(len(e.key)))
		buf = append(buf, e.key...)
		buf = binary.AppendUvarint(buf, uint64(len(e.value)))
		buf = append(buf, e.value...)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.deadline))
		records++
		if len(buf)-frameHeaderLen >= chunkTarget {
			var err error
			if buf, err = writeFrame(w, buf, records); err != nil {
				return err
			}
			records = 0
		}
	}
	if records > 0 {
		var err error
		if buf, err = writeFrame(w, buf, records); err != nil {
			return err
		}
	}
	_, err := writeFrame(w, buf, 0)
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

// Restore replaces the store's content with a snapshot read from r. It
// verifies the header and every chunk's checksum and reads exactly the
// snapshot's bytes, nothing after it. Malformed input yields an error
// wrapping ErrCorrupt (ErrTruncated when r ends early, ErrVersion for an
// unknown version); a read error from r is returned wrapped. On any error the
// store is left unchanged: the new content is built aside and swapped in at
// the end. Allocation is bounded by the input actually read, whatever
// lengths the input claims.
func (s *Store) Restore(r io.Reader) error {
	var hdr [snapHeaderLen]byte
	if err := readFull(r, hdr[:]); err != nil {
		return err
	}
	if string(hdr[:4]) != snapMagic {
		return corruptf("bad snapshot magic %q", hdr[:4])
	}
	if hdr[4] != snapVersion {
		return fmt.Errorf("%w: snapshot version %d", ErrVersion, hdr[4])
	}
	if crc32.Checksum(hdr[:13], castagnoli) != binary.LittleEndian.Uint32(hdr[13:]) {
		return corruptf("snapshot header checksum mismatch")
	}
	count := binary.LittleEndian.Uint64(hdr[5:13])

	ns := newStore(int(min(count, 1<<16)))
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
			*s = *ns
			return nil
		}
		if err := ns.restoreChunk(payload, int(records)); err != nil {
			return err
		}
		restored += uint64(records)
	}
}

// restoreChunk adds the records of one verified chunk payload.
func (s *Store) restoreChunk(payload []byte, records int) error {
	d := decoder{b: payload}
	for range records {
		key := d.bytes(false)
		value := d.bytes(false)
		if d.err == nil && len(d.b) < 8 {
			d.err = ErrTruncated
		}
		if d.err != nil {
			return fmt.Errorf("snapshot record: %w", d.err)
		}
		deadline := int64(binary.LittleEndian.Uint64(d.b))
		d.b = d.b[8:]
		s.insert(string(key), slices.Clone(value), deadline)
		if len(s.index) != len(s.entries) {
			// insert overwrote the index of an earlier copy of key; s is
			// discarded, so its broken state does not matter.
			return corruptf("snapshot holds key %q twice", key)
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
