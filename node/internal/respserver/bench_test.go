package respserver

import (
	"io"
	"strings"
	"testing"
	"time"
)

// BenchmarkServer measures one command through a real connection and the
// whole server path (parse, plan into kv items, a fake backend's Dispatch,
// encode, one write per pipeline) per command, at pipeline depths 1 and 16.
// The server's own allocations are amortized to ~0 per command (items and
// payloads are carved from chunks); what remains per command at pipeline 16
// is the fake backend's (a result and its payload).
func BenchmarkServer(b *testing.B) {
	val := strings.Repeat("v", 64)
	for _, bc := range []struct{ name, cmd, reply string }{
		{"GET", cmd("GET", "key:000042"), "$64\r\n" + val + "\r\n"},
		{"SET", cmd("SET", "key:000042", val), "+OK\r\n"},
		{"PING", cmd("PING"), "+PONG\r\n"},
	} {
		for _, depth := range []int{1, 16} {
			b.Run(bc.name+"/P"+itoa(depth), func(b *testing.B) {
				_, _, addr := start(b, nil)
				c := dial(b, addr)
				exchange(b, c, cmd("SET", "key:000042", val), "+OK\r\n")
				_ = c.SetReadDeadline(time.Time{}) // exchange's 5 s would cut a long run
				in := []byte(strings.Repeat(bc.cmd, depth))
				out := make([]byte, len(bc.reply)*depth)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += depth {
					if _, err := c.Write(in); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c, out); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
