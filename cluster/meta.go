package cluster

import (
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
)

// Limits of the node metadata. Every Meta that passes Validate encodes within
// memberlist.MetaMaxSize bytes only if its strings are short enough together:
// Validate checks the encoded size too.
const (
	// MaxMetaField is the longest GRPCAddr, Zone or Version, in bytes.
	MaxMetaField = 255
	// MaxWorkers is the largest Meta.Workers.
	MaxWorkers = 1 << 16
	// MaxPlacement is the largest Meta.Placement.
	MaxPlacement = 255
	// MaxKeyHash is the largest Meta.KeyHash.
	MaxKeyHash = 255
	// metaVersion is the first byte of every encoding this package writes
	// and the only one it reads.
	metaVersion = 1
	// maxEpoch bounds an advertised epoch; it keeps a confused or hostile
	// peer from pushing every node to an epoch that cannot grow, and keeps
	// epochs exact in JSON numbers. It is not reachable by membership changes.
	maxEpoch = 1 << 53
	// flagLeaving marks a node that has started a graceful leave.
	flagLeaving = 1 << 0
	flagsKnown  = flagLeaving
)

// Meta is the application metadata a node advertises to the cluster through
// gossip. It is a value type, comparable with ==.
type Meta struct {
	// GRPCAddr is the host:port other nodes and clients use for gRPC; "" if
	// the node serves no gRPC.
	GRPCAddr string
	// Zone is a free-form failure domain (e.g. a cloud availability zone).
	Zone string
	// Workers is the number of local workers (0 = unknown).
	Workers int
	// Version is the software version of the node.
	Version string
	// Placement is the version of the algorithm that places partitions on
	// members (ring.Config.Placement), in 0..MaxPlacement. Nodes that place
	// partitions differently compute different tables from the same members,
	// so a node refuses members that advertise another version (ErrIncompatible).
	// 0 and 1 both mean version 1, the only one of nodes that predate the
	// field, and are advertised alike (not at all): DecodeMeta reports 0.
	Placement int
	// KeyHash is how the node places keys in partitions
	// (ring.Config.KeyHash), in 0..MaxKeyHash: 0 xxhash, 1 Redis Cluster
	// slots. Like Placement, a node refuses members of another (ErrIncompatible).
	KeyHash int
	// RESPAddr is the host:port Redis Cluster clients reach the node's RESP
	// server at (CLUSTER SLOTS, MOVED); "" for none. It travels, with
	// KeyHash, in an extension of the encoding that nodes older than it
	// refuse: set it only with a KeyHash they do not share anyway.
	RESPAddr string
}

// placementOf returns the placement version m advertises: 1 for 0.
func placementOf(m Meta) int { return max(m.Placement, 1) }

// Validate reports whether m can be advertised: strings are valid UTF-8
// without control characters and at most MaxMetaField bytes, GRPCAddr is empty
// or host:port with a port in 1..65535, Workers is in 0..MaxWorkers, and the
// encoding fits memberlist.MetaMaxSize. Errors wrap ErrBadMeta or
// ErrMetaTooLarge.
func (m Meta) Validate() error {
	w := wireMeta{Meta: m, Epoch: 1}
	_, err := w.appendTo(nil)
	return err
}

// DecodeMeta decodes the metadata a node advertised. The bytes come from the
// network and are not trusted: anything but the exact encoding this package
// writes (version 1, canonical varints, valid fields, no trailing bytes) is
// rejected with an error wrapping ErrBadMeta.
func DecodeMeta(b []byte) (Meta, error) {
	w, err := decodeWire(b)
	if err != nil {
		return Meta{}, err
	}
	return w.Meta, nil
}

// wireMeta is what travels in memberlist's node meta: the public Meta plus the
// internal fields of epoch agreement (see doc.go).
//
// Encoding, version 1 (all varints unsigned, minimal length):
//
//	byte    version (1)
//	byte    flags (bit 0: leaving; other bits must be zero)
//	varint  epoch (1..2^53)
//	8 bytes set hash, big endian
//	varint  workers (0..MaxWorkers)
//	string  gRPC address   (varint length, then bytes)
//	string  zone
//	string  version
//	varint  placement (2..MaxPlacement), only when above 1 or when the
//	        extension follows (then 1..MaxPlacement)
//	extension, only when KeyHash or RESPAddr is not zero:
//	varint  key hash (0..MaxKeyHash)
//	string  RESP address
//
// The trailing placement keeps the encoding of placement version 1 what it
// was before the field, so older nodes admit newer ones that place
// partitions as they do, and refuse (trailing bytes) those that do not.
type wireMeta struct {
	Meta
	Epoch   uint64
	SetHash uint64
	Leaving bool
}

// appendTo appends the encoding of w to b. It fails, wrapping ErrBadMeta or
// ErrMetaTooLarge, for values DecodeMeta would reject.
func (w wireMeta) appendTo(b []byte) ([]byte, error) {
	if w.Epoch < 1 || w.Epoch > maxEpoch {
		return nil, fmt.Errorf("%w: epoch %d out of range", ErrBadMeta, w.Epoch)
	}
	if w.Workers < 0 {
		return nil, fmt.Errorf("%w: negative workers %d", ErrBadMeta, w.Workers)
	}
	if w.Workers > MaxWorkers {
		return nil, fmt.Errorf("%w: workers %d > %d", ErrMetaTooLarge, w.Workers, MaxWorkers)
	}
	if w.Placement < 0 || w.Placement > MaxPlacement {
		return nil, fmt.Errorf("%w: placement %d not in 0..%d", ErrBadMeta, w.Placement, MaxPlacement)
	}
	if w.KeyHash < 0 || w.KeyHash > MaxKeyHash {
		return nil, fmt.Errorf("%w: key hash %d not in 0..%d", ErrBadMeta, w.KeyHash, MaxKeyHash)
	}
	for _, f := range []struct{ name, v string }{{"grpc address", w.GRPCAddr}, {"zone", w.Zone}, {"version", w.Version}, {"resp address", w.RESPAddr}} {
		if err := checkField(f.name, f.v); err != nil {
			return nil, err
		}
	}
	if err := checkAddr("grpc address", w.GRPCAddr); err != nil {
		return nil, err
	}
	if err := checkAddr("resp address", w.RESPAddr); err != nil {
		return nil, err
	}
	start := len(b)
	var flags byte
	if w.Leaving {
		flags |= flagLeaving
	}
	b = append(b, metaVersion, flags)
	b = binary.AppendUvarint(b, w.Epoch)
	b = binary.BigEndian.AppendUint64(b, w.SetHash)
	b = binary.AppendUvarint(b, uint64(w.Workers))
	for _, s := range []string{w.GRPCAddr, w.Zone, w.Version} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	ext := w.KeyHash != 0 || w.RESPAddr != ""
	if w.Placement > 1 || ext {
		b = binary.AppendUvarint(b, uint64(placementOf(w.Meta)))
	}
	if ext {
		b = binary.AppendUvarint(b, uint64(w.KeyHash))
		b = binary.AppendUvarint(b, uint64(len(w.RESPAddr)))
		b = append(b, w.RESPAddr...)
	}
	if n := len(b) - start; n > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrMetaTooLarge, n, memberlist.MetaMaxSize)
	}
	return b, nil
}

// decodeWire is the strict decoder behind DecodeMeta.
func decodeWire(b []byte) (wireMeta, error) {
	var w wireMeta
	if len(b) > memberlist.MetaMaxSize {
		return w, fmt.Errorf("%w: %d bytes > %d", ErrBadMeta, len(b), memberlist.MetaMaxSize)
	}
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != metaVersion {
		return w, fmt.Errorf("%w: unknown version %d", ErrBadMeta, v)
	}
	flags := d.byte()
	if d.err == nil && flags&^flagsKnown != 0 {
		return w, fmt.Errorf("%w: unknown flags %#x", ErrBadMeta, flags)
	}
	w.Leaving = flags&flagLeaving != 0
	w.Epoch = d.uvarint("epoch", maxEpoch)
	if d.err == nil && w.Epoch == 0 {
		return w, fmt.Errorf("%w: epoch 0", ErrBadMeta)
	}
	w.SetHash = d.uint64()
	w.Workers = int(d.uvarint("workers", MaxWorkers))
	w.GRPCAddr = d.string("grpc address")
	w.Zone = d.string("zone")
	w.Version = d.string("version")
	if d.err == nil && len(d.b) > 0 {
		w.Placement = int(d.uvarint("placement", MaxPlacement))
		ext := d.err == nil && len(d.b) > 0
		if ext {
			w.KeyHash = int(d.uvarint("key hash", MaxKeyHash))
			w.RESPAddr = d.string("resp address")
			if d.err == nil && w.KeyHash == 0 && w.RESPAddr == "" {
				return wireMeta{}, fmt.Errorf("%w: empty extension written out", ErrBadMeta)
			}
		}
		if d.err == nil && (w.Placement < 1 || w.Placement < 2 && !ext) {
			return wireMeta{}, fmt.Errorf("%w: placement %d written out (only versions above 1 are, or any with the extension)", ErrBadMeta, w.Placement)
		}
		if w.Placement == 1 {
			w.Placement = 0 // 0 and 1 decode alike
		}
	}
	if d.err != nil {
		return wireMeta{}, d.err
	}
	if len(d.b) != 0 {
		return wireMeta{}, fmt.Errorf("%w: %d trailing bytes", ErrBadMeta, len(d.b))
	}
	if err := checkAddr("grpc address", w.GRPCAddr); err != nil {
		return wireMeta{}, err
	}
	if err := checkAddr("resp address", w.RESPAddr); err != nil {
		return wireMeta{}, err
	}
	return w, nil
}

// decoder consumes b; the first error sticks and makes later reads no-ops.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrBadMeta}, args...)...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// uvarint reads a minimal-length varint no larger than limit.
func (d *decoder) uvarint(name string, limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	switch {
	case n == 0:
		d.fail("%s: truncated", name)
		return 0
	case n < 0:
		d.fail("%s: varint overflow", name)
		return 0
	case n != uvarintLen(v):
		d.fail("%s: non-minimal varint", name)
		return 0
	case v > limit:
		d.fail("%s: %d > %d", name, v, limit)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(name string) string {
	n := d.uvarint(name+" length", MaxMetaField)
	if d.err != nil {
		return ""
	}
	if uint64(len(d.b)) < n {
		d.fail("%s: truncated", name)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	if err := checkField(name, s); err != nil {
		d.err = err
		return ""
	}
	return s
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// checkField checks a metadata string: short, valid UTF-8, printable.
func checkField(name, s string) error {
	if len(s) > MaxMetaField {
		return fmt.Errorf("%w: %s is %d bytes > %d", ErrMetaTooLarge, name, len(s), MaxMetaField)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadMeta, name)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s contains control character %U", ErrBadMeta, name, r)
		}
	}
	return nil
}

// checkAddr accepts "" or host:port with a non-empty host and a numeric
// port in 1..65535.
func checkAddr(name, s string) error {
	if s == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%w: %s %q: %v", ErrBadMeta, name, s, err)
	}
	if host == "" {
		return fmt.Errorf("%w: %s %q has no host", ErrBadMeta, name, s)
	}
	if _, err := parsePort(port); err != nil {
		return fmt.Errorf("%w: %s %q: %v", ErrBadMeta, name, s, err)
	}
	return nil
}

// parsePort parses a decimal port in 1..65535, without sign or leading zeros.
func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != s {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}
