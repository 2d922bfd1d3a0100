package memnet

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func recv(t *testing.T, tr *Transport) (*memberlist.Packet, bool) {
	t.Helper()
	select {
	case p := <-tr.PacketCh():
		return p, true
	default:
		return nil, false
	}
}

func TestPackets(t *testing.T) {
	var n Network
	a, b := n.NewTransport("a"), n.NewTransport("b")
	if a.Addr() == b.Addr() || a.Addr() != "127.0.0.2:7946" {
		t.Fatalf("addresses %s %s", a.Addr(), b.Addr())
	}
	ip, port, err := a.FinalAdvertiseAddr("", 0)
	if err != nil || ip.String() != "127.0.0.2" || port != 7946 {
		t.Fatalf("FinalAdvertiseAddr = %v %d %v", ip, port, err)
	}
	buf := []byte("hello")
	if _, err := a.WriteTo(buf, b.Addr()); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'j' // the packet is a copy
	p, ok := recv(t, b)
	if !ok || string(p.Buf) != "hello" || p.From.String() != a.Addr() {
		t.Fatalf("got %+v %v", p, ok)
	}

	tests := []struct {
		name  string
		setup func()
		want  bool
	}{
		{"cut drops", func() { n.Cut(a.Addr(), b.Addr()) }, false},
		{"heal restores", func() { n.Heal(b.Addr(), a.Addr()) }, true},
		{"heal all", func() { n.Cut(a.Addr(), b.Addr()); n.HealAll() }, true},
		{"isolated receiver drops", func() { n.Isolate(b.Addr()) }, false},
		{"unisolate restores", func() { n.Unisolate(b.Addr()) }, true},
		{"isolated sender drops", func() { n.Isolate(a.Addr()) }, false},
		{"heal all undoes isolate", func() { n.HealAll() }, true},
		{"unknown address drops", nil, false},
		{"shutdown drops", func() { _ = b.Shutdown(); _ = b.Shutdown() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			to := b.Addr()
			if tt.setup == nil {
				to = "127.0.0.99:7946"
			}
			if _, err := a.WriteTo([]byte("x"), to); err != nil {
				t.Fatalf("WriteTo never fails, got %v", err)
			}
			if _, ok := recv(t, b); ok != tt.want {
				t.Fatalf("delivered = %v, want %v", ok, tt.want)
			}
		})
	}
}

func TestFullQueueDrops(t *testing.T) {
	var n Network
	a, b := n.NewTransport("a"), n.NewTransport("b")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range queueLen + 10 {
			_, _ = a.WriteTo([]byte("x"), b.Addr())
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WriteTo blocked on a full queue")
	}
	if got := len(b.PacketCh()); got != queueLen {
		t.Fatalf("%d packets queued, want %d", got, queueLen)
	}
}

func TestStreams(t *testing.T) {
	n := Network{Port: 9000}
	a, b := n.NewTransport("a"), n.NewTransport("b")
	if b.Addr() != "127.0.0.3:9000" {
		t.Fatalf("addr %s", b.Addr())
	}
	c, err := a.DialTimeout(b.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv := <-b.StreamCh()
	go func() { _, _ = c.Write([]byte("ping")); _ = c.Close() }()
	got, err := io.ReadAll(srv)
	if err != nil || string(got) != "ping" {
		t.Fatalf("read %q, %v", got, err)
	}
	_ = srv.Close()

	n.Cut(a.Addr(), b.Addr())
	if _, err := a.DialTimeout(b.Addr(), time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial across a cut: %v", err)
	}
	n.HealAll()
	pending, err := a.DialTimeout(b.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Shutdown()
	// The queued stream was closed by Shutdown.
	if _, err := pending.Write([]byte("x")); err == nil {
		t.Fatal("write to a stream of a shut-down transport succeeded")
	}
	if _, err := a.DialTimeout(b.Addr(), time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial to a shut-down transport: %v", err)
	}
}

func TestStats(t *testing.T) {
	var n Network
	a, b := n.NewTransport("a"), n.NewTransport("b")
	_, _ = a.WriteTo([]byte("hello"), b.Addr())
	_, _ = a.WriteTo([]byte("xyz"), "127.0.0.99:7946")
	c, err := a.DialTimeout(b.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv := <-b.StreamCh()
	go func() { _, _ = srv.Write([]byte("pong!")); _ = srv.Close() }()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, srv) }()
	_ = c.Close()
	n.Isolate(b.Addr())
	if _, err := a.DialTimeout(b.Addr(), time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial to an isolated transport: %v", err)
	}
	want := Stats{Packets: 2, PacketBytes: 8, Dropped: 1, Streams: 1, StreamBytes: 5}
	if got := n.Stats(); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
}
