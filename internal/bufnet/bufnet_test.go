package bufnet

import (
	"context"
	"errors"
	"io"
	"testing"
)

func TestListenDial(t *testing.T) {
	var n Network
	l, err := n.Listen("tcp", "10.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Addr().String(); got != "10.0.0.1:20001" {
		t.Fatalf("addr %s, want 10.0.0.1:20001", got)
	}
	if _, err := n.Listen("tcp", l.Addr().String()); !errors.Is(err, ErrInUse) {
		t.Fatalf("second listen: %v, want ErrInUse", err)
	}
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(c, c)
		_ = c.Close()
	}()
	c, err := n.Dial(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	_ = c.Close()
	if n.Dials() != 1 {
		t.Fatalf("dials %d, want 1", n.Dials())
	}

	n.Down(l.Addr().String())
	if _, err := n.Dial(context.Background(), l.Addr().String()); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial when down: %v, want ErrUnreachable", err)
	}
	n.Up(l.Addr().String())
	_ = l.Close()
	if _, err := n.Dial(context.Background(), l.Addr().String()); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial after close: %v, want ErrUnreachable", err)
	}
	if _, err := n.Listen("tcp", l.Addr().String()); err != nil {
		t.Fatalf("listen again after close: %v", err)
	}
}
