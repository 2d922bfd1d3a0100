package respserver

import (
	"bytes"
	"net"
	"testing"

	"github.com/nothingshared/ns/resp"
)

// FuzzCommands runs arbitrary commands (arguments separated by NUL bytes)
// through the planner and the reply writer against an in-memory store: no
// panic, and every command gets exactly one well-formed reply.
func FuzzCommands(f *testing.F) {
	for _, seed := range []string{
		"SET\x00k\x00v\x00EX\x0010\x00NX\x00GET",
		"set\x00k\x00v\x00xx\x00get\x00pxat\x001",
		"GETSET\x00k\x00v", "EXPIRE\x00k\x00-5", "PERSIST\x00k", "INCRBY\x00k\x00-9223372036854775808",
		"MSET\x00a\x001\x00b", "MGET\x00a\x00b", "HELLO\x003\x00AUTH\x00u\x00p\x00SETNAME\x00x",
		"CLIENT\x00SETINFO\x00lib-ver\x001", "CONFIG\x00GET\x00*", "COMMAND\x00INFO\x00get\x00nope",
		"INFO\x00keyspace", "GETEX\x00k\x00PERSIST", "GETEX\x00k\x00PXAT\x001", "GETRANGE\x00k\x00-9223372036854775808\x00-1", "TIME", "NS.CAS\x00k\x00v\x00w", "PEXPIREAT\x00k\x009223372036854775807",
		"GETDEL\x00k", "APPEND\x00k\x00v", "MSETNX\x00a\x001\x00b\x002", "SCAN\x000\x00MATCH\x00k*\x00COUNT\x003", "FLUSHALL\x00ASYNC",
	} {
		f.Add([]byte(seed))
	}
	// A standalone server, and one in cluster mode owning partitions 0-2
	// of three nodes (its Dispatch is never asked about the others).
	cfg := DefaultConfig()
	cfg.Backend = newFakeBackend()
	standalone, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	fb := newFakeBackend()
	fb.slots = true
	topo := Topology{Epoch: 3, Nodes: []ClusterNode{{"n1", "127.0.0.1:1"}, {"n2", "127.0.0.1:2"}, {"n3", "[::1]:3"}}, Owners: []int{0, 0, 0, 1, 1, 1, 2, 2}}
	cfg.Backend, cfg.Cluster = &clusterFake{fakeBackend: fb, topo: topo}, true
	clustered, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("CLUSTER\x00SHARDS"))
	f.Add([]byte("MSET\x00{a}x\x001\x00{a}y\x002"))
	f.Fuzz(func(t *testing.T, in []byte) {
		args := bytes.Split(in, []byte{0})
		if len(args) > 32 || len(args[0]) == 0 {
			return
		}
		s := standalone
		if len(in)%2 == 1 {
			s = clustered
		}
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		c := s.newConn(a)
		c.topo = topo
		for i := 0; i < 2; i++ { // twice: state from the first (HELLO 3, a key) matters
			c.args, c.ops, c.items = append(c.args[:0], args...), c.ops[:0], c.items[:0]
			c.imm.Reset()
			c.plan(0, int32(len(args)))
			c.run()
		}
		out := c.wr.Bytes()
		for i := 0; i < 2; i++ {
			n, err := replyLen(out)
			if err != nil {
				t.Fatalf("reply %d of %q: %v in %q", i, in, err, out)
			}
			out = out[n:]
		}
		if len(out) != 0 {
			t.Fatalf("%q: %d bytes after two replies: %q", in, len(out), out)
		}
	})
}

// replyLen returns the length of the first RESP value in b.
func replyLen(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, resp.ErrProtocol
	}
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return 0, resp.ErrProtocol
	}
	line := string(b[1:i])
	switch b[0] {
	case '+', '-', ':', '_':
		return i + 2, nil
	case '$':
		n, ok := parseInt([]byte(line))
		if !ok && line != "0" {
			return 0, resp.ErrProtocol
		}
		if n < 0 {
			return i + 2, nil
		}
		end := i + 2 + int(n) + 2
		if end > len(b) || b[end-2] != '\r' || b[end-1] != '\n' {
			return 0, resp.ErrProtocol
		}
		return end, nil
	case '*', '%', '~':
		n, ok := parseInt([]byte(line))
		if !ok && line != "0" {
			return 0, resp.ErrProtocol
		}
		if b[0] == '%' {
			n *= 2
		}
		pos := i + 2
		for k := int64(0); k < n; k++ {
			m, err := replyLen(b[pos:])
			if err != nil {
				return 0, err
			}
			pos += m
		}
		return pos, nil
	}
	return 0, resp.ErrProtocol
}
