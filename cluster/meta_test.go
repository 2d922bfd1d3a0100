package cluster

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
	"pgregory.net/rapid"
)

func TestMetaValidate(t *testing.T) {
	long := strings.Repeat("x", MaxMetaField+1)
	max := strings.Repeat("x", MaxMetaField)
	tests := []struct {
		name string
		m    Meta
		want error
	}{
		{"zero", Meta{}, nil},
		{"full", Meta{GRPCAddr: "10.0.0.1:7700", Zone: "eu-west-1a", Workers: 8, Version: "v1.2.3"}, nil},
		{"ipv6", Meta{GRPCAddr: "[::1]:7700"}, nil},
		{"hostname", Meta{GRPCAddr: "ns-0.ns.default.svc:7700"}, nil},
		{"max workers", Meta{Workers: MaxWorkers}, nil},
		{"unicode zone", Meta{Zone: "zürich-1"}, nil},
		{"one max field", Meta{GRPCAddr: "10.0.0.1:7700", Zone: max, Version: "v1"}, nil},
		{"two max fields", Meta{Zone: max, Version: max}, ErrMetaTooLarge},
		{"long zone", Meta{Zone: long}, ErrMetaTooLarge},
		{"too many workers", Meta{Workers: MaxWorkers + 1}, ErrMetaTooLarge},
		{"negative workers", Meta{Workers: -1}, ErrBadMeta},
		{"no port", Meta{GRPCAddr: "10.0.0.1"}, ErrBadMeta},
		{"port 0", Meta{GRPCAddr: "10.0.0.1:0"}, ErrBadMeta},
		{"port too big", Meta{GRPCAddr: "10.0.0.1:65536"}, ErrBadMeta},
		{"port leading zero", Meta{GRPCAddr: "10.0.0.1:07700"}, ErrBadMeta},
		{"named port", Meta{GRPCAddr: "10.0.0.1:grpc"}, ErrBadMeta},
		{"no host", Meta{GRPCAddr: ":7700"}, ErrBadMeta},
		{"bad utf8", Meta{Version: "v\xff"}, ErrBadMeta},
		{"control char", Meta{Zone: "a\nb"}, ErrBadMeta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWireMetaRoundTrip(t *testing.T) {
	w := wireMeta{
		Meta:    Meta{GRPCAddr: "127.0.0.1:7700", Zone: "z1", Workers: 4, Version: "dev"},
		Epoch:   300,
		SetHash: 0x0102030405060708,
		Leaving: true,
	}
	b, err := w.appendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{1, 1, 0xac, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 4, 14}
	if !bytes.HasPrefix(b, want) {
		t.Fatalf("encoding % x, want prefix % x", b, want)
	}
	got, err := decodeWire(b)
	if err != nil || got != w {
		t.Fatalf("decodeWire = %+v, %v; want %+v", got, err, w)
	}
	m, err := DecodeMeta(b)
	if err != nil || m != w.Meta {
		t.Fatalf("DecodeMeta = %+v, %v; want %+v", m, err, w.Meta)
	}
}

// TestWireMetaPlacement: placement version 1 (or 0) is advertised exactly
// as before the field existed, so older nodes admit the nodes that place
// partitions as they do; a later version is a trailing varint they refuse.
func TestWireMetaPlacement(t *testing.T) {
	base := wireMeta{Meta: Meta{GRPCAddr: "a:1", Zone: "z", Workers: 1, Version: "v"}, Epoch: 1, SetHash: 7}
	v0 := validWire(t)
	for _, p := range []int{0, 1} {
		w := base
		w.Placement = p
		b, err := w.appendTo(nil)
		if err != nil || !bytes.Equal(b, v0) {
			t.Fatalf("placement %d encodes as % x, %v; want % x", p, b, err, v0)
		}
	}
	w := base
	w.Placement = 2
	b, err := w.appendTo(nil)
	if err != nil || !bytes.Equal(b, append(bytes.Clone(v0), 2)) {
		t.Fatalf("placement 2 encodes as % x, %v", b, err)
	}
	if m, err := DecodeMeta(b); err != nil || m.Placement != 2 {
		t.Fatalf("DecodeMeta = %+v, %v", m, err)
	}
	for _, p := range []int{-1, MaxPlacement + 1} {
		if err := (Meta{Placement: p}).Validate(); !errors.Is(err, ErrBadMeta) {
			t.Fatalf("Validate(placement %d) = %v, want ErrBadMeta", p, err)
		}
	}
}

// TestWireMetaExtension: the key hash and RESP address travel in an
// extension after the placement, which is then written out even when 1.
func TestWireMetaExtension(t *testing.T) {
	v0 := validWire(t)
	for _, tc := range []struct {
		m    Meta
		tail []byte
	}{
		{Meta{KeyHash: 1}, []byte{1, 1, 0}},
		{Meta{Placement: 2, KeyHash: 1, RESPAddr: "h:1"}, []byte{2, 1, 3, 'h', ':', '1'}},
		{Meta{RESPAddr: "h:1"}, []byte{1, 0, 3, 'h', ':', '1'}},
	} {
		w := wireMeta{Meta: Meta{GRPCAddr: "a:1", Zone: "z", Workers: 1, Version: "v"}, Epoch: 1, SetHash: 7}
		w.Placement, w.KeyHash, w.RESPAddr = tc.m.Placement, tc.m.KeyHash, tc.m.RESPAddr
		b, err := w.appendTo(nil)
		if err != nil || !bytes.Equal(b, append(bytes.Clone(v0), tc.tail...)) {
			t.Fatalf("%+v encodes as % x, %v", tc.m, b, err)
		}
		if m, err := DecodeMeta(b); err != nil || m != w.Meta {
			t.Fatalf("DecodeMeta = %+v, %v; want %+v", m, err, w.Meta)
		}
	}
	for _, m := range []Meta{{KeyHash: -1}, {KeyHash: MaxKeyHash + 1}, {RESPAddr: "nohost"}, {RESPAddr: ":1"}} {
		if err := m.Validate(); !errors.Is(err, ErrBadMeta) {
			t.Fatalf("Validate(%+v) = %v, want ErrBadMeta", m, err)
		}
	}
}

func validWire(t testing.TB) []byte {
	b, err := wireMeta{Meta: Meta{GRPCAddr: "a:1", Zone: "z", Workers: 1, Version: "v"}, Epoch: 1, SetHash: 7}.appendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeMetaRejects(t *testing.T) {
	good := validWire(t)
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"version only", []byte{1}},
		{"version 0", mod(func(b []byte) []byte { b[0] = 0; return b })},
		{"version 2", mod(func(b []byte) []byte { b[0] = 2; return b })},
		{"unknown flag", mod(func(b []byte) []byte { b[1] = 2; return b })},
		{"epoch 0", mod(func(b []byte) []byte { b[2] = 0; return b })},
		{"non-minimal epoch", append([]byte{1, 0, 0x81, 0x00}, good[3:]...)},
		{"epoch too big", append(append([]byte{1, 0}, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10), good[3:]...)},
		{"varint overflow", []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"truncated hash", good[:6]},
		{"truncated string", good[:len(good)-1]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"workers too big", append(append(bytes.Clone(good[:11]), 0x81, 0x80, 0x04), good[12:]...)},
		{"too large", append(bytes.Clone(good), make([]byte, memberlist.MetaMaxSize)...)},
		{"bad grpc addr", []byte{1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x', 0, 0}},
		{"control in zone", []byte{1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x07, 0}},
		{"bad utf8 version", []byte{1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff}},
		{"placement 1 written out", append(bytes.Clone(good), 1)},
		{"placement too big", append(bytes.Clone(good), 0x80, 0x02)},
		{"non-minimal placement", append(bytes.Clone(good), 0x82, 0x00)},
		{"byte after placement", append(bytes.Clone(good), 2, 0)},
		{"empty extension", append(bytes.Clone(good), 2, 0, 0)},
		{"placement 0 with extension", append(bytes.Clone(good), 0, 1, 0)},
		{"key hash too big", append(bytes.Clone(good), 1, 0x80, 0x02, 0)},
		{"bad resp addr", append(bytes.Clone(good), 1, 1, 1, 'x')},
		{"byte after extension", append(bytes.Clone(good), 1, 1, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeWire(tt.b); !errors.Is(err, ErrBadMeta) {
				t.Fatalf("decodeWire(% x) = %v, want ErrBadMeta", tt.b, err)
			}
			if _, err := DecodeMeta(tt.b); !errors.Is(err, ErrBadMeta) {
				t.Fatalf("DecodeMeta(% x) = %v, want ErrBadMeta", tt.b, err)
			}
		})
	}
}

// TestWireMetaRapid: every valid value encodes within the limit and decodes
// to itself.
func TestWireMetaRapid(t *testing.T) {
	str := rapid.StringN(0, 40, -1).Filter(func(s string) bool { return checkField("", s) == nil })
	rapid.Check(t, func(t *rapid.T) {
		w := wireMeta{
			Meta: Meta{
				Zone:      str.Draw(t, "zone"),
				Workers:   rapid.IntRange(0, MaxWorkers).Draw(t, "workers"),
				Version:   str.Draw(t, "version"),
				Placement: rapid.SampledFrom([]int{0, 2, 3, MaxPlacement}).Draw(t, "placement"),
			},
			Epoch:   rapid.Uint64Range(1, maxEpoch).Draw(t, "epoch"),
			SetHash: rapid.Uint64().Draw(t, "hash"),
			Leaving: rapid.Bool().Draw(t, "leaving"),
		}
		if rapid.Bool().Draw(t, "grpc") {
			w.GRPCAddr = rapid.StringMatching(`[a-z][a-z0-9.-]{0,30}`).Draw(t, "host") + ":" + rapid.SampledFrom([]string{"1", "80", "7700", "65535"}).Draw(t, "port")
		}
		b, err := w.appendTo(nil)
		if err != nil {
			t.Fatalf("appendTo(%+v): %v", w, err)
		}
		if len(b) > memberlist.MetaMaxSize {
			t.Fatalf("%d bytes", len(b))
		}
		got, err := decodeWire(b)
		if err != nil || got != w {
			t.Fatalf("decodeWire = %+v, %v; want %+v", got, err, w)
		}
	})
}

// FuzzDecodeMeta: decoding untrusted bytes never panics, and whatever decodes
// is canonical: it re-encodes to the very same bytes.
func FuzzDecodeMeta(f *testing.F) {
	seeds := []wireMeta{
		{Epoch: 1},
		{Meta: Meta{GRPCAddr: "10.1.2.3:7700", Zone: "eu-west-1a", Workers: 8, Version: "v0.1.0"}, Epoch: 42, SetHash: 0xdeadbeefcafef00d},
		{Meta: Meta{GRPCAddr: "[2001:db8::1]:7700", Workers: MaxWorkers}, Epoch: maxEpoch, Leaving: true},
		{Meta: Meta{Placement: 2}, Epoch: 3},
		{Meta: Meta{Zone: "zürich", Version: strings.Repeat("v", MaxMetaField)}, Epoch: 1 << 20},
	}
	for _, w := range seeds {
		b, err := w.appendTo(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0x80, 0x00})
	f.Add([]byte{2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := decodeWire(b)
		m, err2 := DecodeMeta(b)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("decodeWire err %v, DecodeMeta err %v", err, err2)
		}
		if err != nil {
			if !errors.Is(err, ErrBadMeta) {
				t.Fatalf("error %v does not wrap ErrBadMeta", err)
			}
			return
		}
		if m != w.Meta {
			t.Fatalf("DecodeMeta = %+v, decodeWire = %+v", m, w.Meta)
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded meta does not validate: %v", err)
		}
		enc, err := w.appendTo(nil)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", w, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("not canonical: decoded % x, re-encoded % x", b, enc)
		}
	})
}

// TestMetaSizeTypical: what one member's metadata costs on the wire, for
// docs/scale.md's gossip audit. Every view change makes every member
// re-advertise it (its epoch and set hash change), so its size times the
// member count is what a membership change puts in every gossip queue.
// The bound is the audit's assumption: the test fails if the encoding
// grows past it.
func TestMetaSizeTypical(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    wireMeta
		max  int
	}{
		{"nsnode, IPv4, zone, release version", wireMeta{Meta: Meta{GRPCAddr: "10.213.221.200:7700", Zone: "eu-west-1a",
			Workers: 64, Version: "v1.12.3"}, Epoch: 1 << 20, SetHash: 1<<64 - 1}, 64},
		{"--resp-cluster adds the RESP address", wireMeta{Meta: Meta{GRPCAddr: "10.213.221.200:7700", Zone: "eu-west-1a",
			Workers: 64, Version: "v1.12.3", Placement: 3, KeyHash: 1, RESPAddr: "10.213.221.200:7379"}, Epoch: 1 << 20, SetHash: 1<<64 - 1}, 96},
	} {
		b, err := tc.w.appendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", tc.name, len(b))
		if len(b) > tc.max {
			t.Errorf("%s: %d bytes, more than the %d docs/scale.md's gossip audit assumes", tc.name, len(b), tc.max)
		}
	}
}
