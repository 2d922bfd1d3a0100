package node_test

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nothingshared/ns/internal/clustertest"
)

// BenchmarkRESPNode: GET and SET of 64-byte values through a real one-node
// node over RESP, pipelines of 16, from a client that allocates nothing in
// the loop: allocs/op and B/op are the server's per command (amortized),
// ns/op includes the client's syscalls.
func BenchmarkRESPNode(b *testing.B) {
	c := clustertest.Start(b, clustertest.Config{Nodes: 1})
	val := strings.Repeat("v", 64)
	resp := func(args ...string) string {
		s := "*" + strconv.Itoa(len(args)) + "\r\n"
		for _, a := range args {
			s += "$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n"
		}
		return s
	}
	const depth = 16
	for _, bc := range []struct{ name, reply string }{{"SET", "+OK\r\n"}, {"GET", "$64\r\n" + val + "\r\n"}} {
		b.Run(bc.name+"/P16", func(b *testing.B) {
			conn, err := net.Dial("tcp", c.Nodes[0].RESPAddr())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			var in, want string
			for i := range depth {
				key := "key:" + strconv.Itoa(i*7919%1000)
				if bc.name == "SET" {
					in += resp("SET", key, val)
				} else {
					in += resp("GET", key)
				}
				want += bc.reply
			}
			// Fill the keys first (and warm the connection).
			for i := 0; i < 1000; i += depth {
				var fill string
				for j := range depth {
					fill += resp("SET", "key:"+strconv.Itoa(i+j), val)
				}
				if _, err := io.WriteString(conn, fill); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(conn, make([]byte, 5*depth)); err != nil {
					b.Fatal(err)
				}
			}
			out := make([]byte, len(want))
			inb := []byte(in)
			_ = conn.SetDeadline(time.Now().Add(time.Minute))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += depth {
				if _, err := conn.Write(inb); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(conn, out); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if string(out) != want {
				b.Fatalf("replies %.100q, want %.100q", out, want)
			}
		})
	}
}
