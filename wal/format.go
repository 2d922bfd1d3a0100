package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// On-disk format (all integers little endian). Documented in doc.go.
//
// Segment file "<seq, 16 hex digits>.wal":
//
//	header: "NSWL" | version u8 | 3 zero bytes | seq u64 | crc32c(previous 16 bytes) u32
//	frames: length u32 | crc32c(length bytes ‖ body) u32 | body (length bytes)
//	body:   partition u32 | epoch u64 | lsn u64 | request id u64 | payload
//
// Snapshot file "<partition, 8 hex digits>.snap":
//
//	"NSWS" | version u8 | flags u8 | 2 zero bytes | partition u32 |
//	epoch u64 | lsn u64 | position segment u64 | position offset u64 |
//	data length u64 | data | crc32c(everything before) u32
const (
	segMagic      = "NSWL"
	snapMagic     = "NSWS"
	formatVersion = 1

	segHeaderLen   = 20
	frameHeaderLen = 8
	bodyHeaderLen  = 28
	snapHeaderLen  = 52
	maxBody        = bodyHeaderLen + MaxPayload

	snapFlagDropped = 1

	segSuffix  = ".wal"
	snapSuffix = ".snap"
	tmpSuffix  = ".tmp"
	lockName   = "LOCK"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func segName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segSuffix) }

func snapName(p uint32) string { return fmt.Sprintf("%08x%s", p, snapSuffix) }

// parseName recognises segment and snapshot file names.
func parseName(name string) (seq uint64, isSeg bool, part uint32, isSnap bool) {
	if s, ok := strings.CutSuffix(name, segSuffix); ok && len(s) == 16 {
		if v, err := strconv.ParseUint(s, 16, 64); err == nil {
			return v, true, 0, false
		}
	}
	if s, ok := strings.CutSuffix(name, snapSuffix); ok && len(s) == 8 {
		if v, err := strconv.ParseUint(s, 16, 32); err == nil {
			return 0, false, uint32(v), true
		}
	}
	return 0, false, 0, false
}

func appendSegHeader(b []byte, seq uint64) []byte {
	start := len(b)
	b = append(b, segMagic...)
	b = append(b, formatVersion, 0, 0, 0)
	b = binary.LittleEndian.AppendUint64(b, seq)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

func checkSegHeader(h []byte, seq uint64) error {
	if string(h[:4]) != segMagic {
		return fmt.Errorf("bad segment magic %q", h[:4])
	}
	if crc32.Checksum(h[:16], castagnoli) != binary.LittleEndian.Uint32(h[16:20]) {
		return fmt.Errorf("segment header checksum mismatch")
	}
	if h[4] != formatVersion {
		return fmt.Errorf("segment format version %d, want %d", h[4], formatVersion)
	}
	if got := binary.LittleEndian.Uint64(h[8:16]); got != seq {
		return fmt.Errorf("segment header names seq %d", got)
	}
	return nil
}

// frameLen is the on-disk size of a record with n payload bytes.
func frameLen(n int) int { return frameHeaderLen + bodyHeaderLen + n }

// appendFrame encodes r as one frame at the end of b.
func appendFrame(b []byte, r *Record) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(bodyHeaderLen+len(r.Payload)))
	b = append(b, 0, 0, 0, 0) // crc, filled below
	b = binary.LittleEndian.AppendUint32(b, r.Partition)
	b = binary.LittleEndian.AppendUint64(b, r.Epoch)
	b = binary.LittleEndian.AppendUint64(b, r.LSN)
	b = binary.LittleEndian.AppendUint64(b, r.RequestID)
	b = append(b, r.Payload...)
	crc := crc32.Update(crc32.Checksum(b[start:start+4], castagnoli), castagnoli, b[start+8:])
	binary.LittleEndian.PutUint32(b[start+4:], crc)
	return b
}

// frameHeader returns the body length and the checksum a frame header
// announces. ok is false for a length no valid frame has.
func frameHeader(h []byte) (n int, crc uint32, ok bool) {
	l := binary.LittleEndian.Uint32(h[:4])
	if l < bodyHeaderLen || l > maxBody {
		return 0, 0, false
	}
	return int(l), binary.LittleEndian.Uint32(h[4:8]), true
}

// decodeBody checks a frame's body against its header and decodes it. The
// payload aliases body.
func decodeBody(h, body []byte, crc uint32) (Record, bool) {
	if crc32.Update(crc32.Checksum(h[:4], castagnoli), castagnoli, body) != crc {
		return Record{}, false
	}
	return Record{
		Partition: binary.LittleEndian.Uint32(body[0:4]),
		Epoch:     binary.LittleEndian.Uint64(body[4:12]),
		LSN:       binary.LittleEndian.Uint64(body[12:20]),
		RequestID: binary.LittleEndian.Uint64(body[20:28]),
		Payload:   body[28:],
	}, true
}

// snapMeta is what the log remembers of a partition's latest snapshot.
type snapMeta struct {
	epoch, lsn uint64
	pos        position // the log's end when the snapshot was taken
	dropped    bool
}

// encodeSnapshot returns the header and the trailer (the checksum) that
// surround data in a snapshot file, so data is written without a copy.
func encodeSnapshot(p uint32, m snapMeta, data []byte) (head, tail []byte) {
	b := make([]byte, 0, snapHeaderLen)
	b = append(b, snapMagic...)
	var flags byte
	if m.dropped {
		flags |= snapFlagDropped
	}
	b = append(b, formatVersion, flags, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, p)
	b = binary.LittleEndian.AppendUint64(b, m.epoch)
	b = binary.LittleEndian.AppendUint64(b, m.lsn)
	b = binary.LittleEndian.AppendUint64(b, m.pos.seg)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.pos.off))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(data)))
	crc := crc32.Update(crc32.Checksum(b, castagnoli), castagnoli, data)
	return b, binary.LittleEndian.AppendUint32(nil, crc)
}

// decodeSnapshot verifies a snapshot file; data aliases b.
func decodeSnapshot(b []byte) (p uint32, m snapMeta, data []byte, err error) {
	if len(b) < snapHeaderLen+4 || string(b[:4]) != snapMagic {
		return 0, m, nil, fmt.Errorf("no snapshot header")
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return 0, m, nil, fmt.Errorf("snapshot checksum mismatch")
	}
	if b[4] != formatVersion {
		return 0, m, nil, fmt.Errorf("snapshot format version %d, want %d", b[4], formatVersion)
	}
	m.dropped = b[5]&snapFlagDropped != 0
	p = binary.LittleEndian.Uint32(b[8:12])
	m.epoch = binary.LittleEndian.Uint64(b[12:20])
	m.lsn = binary.LittleEndian.Uint64(b[20:28])
	m.pos.seg = binary.LittleEndian.Uint64(b[28:36])
	m.pos.off = int64(binary.LittleEndian.Uint64(b[36:44]))
	n := binary.LittleEndian.Uint64(b[44:52])
	if n != uint64(len(body)-snapHeaderLen) {
		return 0, m, nil, fmt.Errorf("snapshot data length %d, file holds %d", n, len(body)-snapHeaderLen)
	}
	return p, m, body[snapHeaderLen:], nil
}

// position is a place in the log: a segment and a byte offset in it.
type position struct {
	seg uint64
	off int64
}

func (a position) less(b position) bool {
	return a.seg < b.seg || (a.seg == b.seg && a.off < b.off)
}
