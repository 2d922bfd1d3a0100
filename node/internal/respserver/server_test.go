package respserver

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakePartitions is the fake backend's partition count.
const fakePartitions = 8

// fakeBackend applies kv items to in-memory stores, one per partition, and
// counts the Dispatch calls.
type fakeBackend struct {
	mu     sync.Mutex // guards stores
	stores [fakePartitions]*kv.Store
	calls  atomic.Int64
	items  atomic.Int64
	err    error // when set, every item fails with it
	// slots places keys by Redis Cluster's slots, as cluster mode needs.
	slots bool
}

func (f *fakeBackend) Dispatch(_ context.Context, items []*nsv1.Item, _ bool) []*nsv1.Result {
	f.calls.Add(1)
	f.items.Add(int64(len(items)))
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*nsv1.Result, len(items))
	for i, it := range items {
		if f.err != nil {
			out[i] = transport.ResultError(f.err)
			continue
		}
		p, err := f.stores[f.PartitionOf(it.GetKey())].Handle(time.Now(), it.GetPayload())
		if err != nil {
			out[i] = transport.ResultError(err)
		} else {
			out[i] = &nsv1.Result{Payload: p}
		}
	}
	return out
}

func (f *fakeBackend) NodeID() string { return "fake" }

func (f *fakeBackend) DBSize() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, st := range f.stores {
		n += st.Len()
	}
	return int64(n), nil
}

func (f *fakeBackend) Partitions() int { return fakePartitions }

func (f *fakeBackend) PartitionOf(key []byte) int {
	if f.slots {
		return ring.SlotPartition(ring.Slot(key), fakePartitions)
	}
	return ring.PartitionOf(key, fakePartitions)
}

// newFakeBackend returns a fake backend with empty stores.
func newFakeBackend() *fakeBackend {
	f := &fakeBackend{}
	for i := range f.stores {
		f.stores[i] = kv.NewStore()
	}
	return f
}

// start serves a Server with a fake backend on a loopback port.
func start(t testing.TB, modify func(*Config)) (*Server, *fakeBackend, string) {
	t.Helper()
	fb := newFakeBackend()
	cfg := DefaultConfig()
	cfg.Backend = fb
	if modify != nil {
		modify(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(lis) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, fb, lis.Addr().String()
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends in and expects exactly want back.
func exchange(t testing.TB, c net.Conn, in, want string) {
	t.Helper()
	if _, err := io.WriteString(c, in); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	n, err := io.ReadFull(c, got)
	if err != nil || string(got) != want {
		t.Fatalf("sent %.200q\n got %q (%v)\nwant %q", in, got[:n], err, want)
	}
}

// cmd encodes a command as a RESP array.
func cmd(args ...string) string {
	var b strings.Builder
	b.WriteString("*" + itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}

// TestReplies checks exact replies, RESP2 then RESP3, for each command
// and its Redis errors.
func TestReplies(t *testing.T) {
	_, _, addr := start(t, nil)
	c := dial(t, addr)
	// RESP2 first; the replies that differ in RESP3 are checked below.
	for _, tc := range []struct{ in, want string }{
		{cmd("PING"), "+PONG\r\n"},
		{"PING\r\n", "+PONG\r\n"},
		{cmd("ping", "hi"), "$2\r\nhi\r\n"},
		{cmd("ECHO", "x y"), "$3\r\nx y\r\n"},
		{cmd("SELECT", "0"), "+OK\r\n"},
		{cmd("SELECT", "1"), "-ERR DB index is out of range\r\n"},
		{cmd("GET", "a"), "$-1\r\n"},
		{cmd("SET", "a", "1"), "+OK\r\n"},
		{cmd("GET", "a"), "$1\r\n1\r\n"},
		{cmd("GET"), "-ERR wrong number of arguments for 'get' command\r\n"},
		{cmd("SET", "a", "1", "BOGUS"), "-ERR syntax error\r\n"},
		{cmd("SET", "a", "1", "EX", "x"), "-ERR value is not an integer or out of range\r\n"},
		{cmd("SET", "a", "1", "EX", "0"), "-ERR invalid expire time in 'set' command\r\n"},
		{cmd("SET", "a", "1", "NX", "XX"), "-ERR syntax error\r\n"},
		{cmd("SET", "a", "2", "NX"), "$-1\r\n"},
		{cmd("SET", "a", "2", "NX", "GET"), "$1\r\n1\r\n"},
		{cmd("SET", "b", "2", "XX"), "$-1\r\n"},
		{cmd("SET", "a", "3", "XX", "GET"), "$1\r\n1\r\n"},
		{cmd("SET", "a", "4", "GET", "PX", "100000"), "$1\r\n3\r\n"},
		{cmd("SET", "a", "1", "KEEPTTL"), "-ERR SET KEEPTTL is not supported by ns: the kv store has no atomic write that keeps a key's ttl\r\n"},
		{cmd("SETNX", "a", "x"), ":0\r\n"},
		{cmd("SETNX", "n", "x"), ":1\r\n"},
		{cmd("GETSET", "n", "y"), "$1\r\nx\r\n"},
		{cmd("GETSET", "fresh", "y"), "$-1\r\n"},
		{cmd("GETDEL", "fresh"), "$1\r\ny\r\n"},
		{cmd("GETDEL", "fresh"), "$-1\r\n"},
		{cmd("APPEND", "ap", "Hello"), ":5\r\n"},
		{cmd("APPEND", "ap", " World"), ":11\r\n"},
		{cmd("GET", "ap"), "$11\r\nHello World\r\n"},
		{cmd("SETEX", "e", "100", "v"), "+OK\r\n"},
		{cmd("TTL", "e"), ":100\r\n"},
		{cmd("SETEX", "e", "0", "v"), "-ERR invalid expire time in 'setex' command\r\n"},
		{cmd("PSETEX", "e", "1500", "v"), "+OK\r\n"},
		{cmd("PTTL", "nope"), ":-2\r\n"},
		{cmd("TTL", "n"), ":-1\r\n"},
		{cmd("EXPIRE", "n", "50"), ":1\r\n"},
		{cmd("TTL", "n"), ":50\r\n"},
		{cmd("PERSIST", "n"), ":1\r\n"},
		{cmd("PERSIST", "n"), ":0\r\n"},
		{cmd("EXPIRE", "nope", "50"), ":0\r\n"},
		{cmd("EXPIRE", "n", "50", "NX"), "-ERR EXPIRE options NX, XX, GT and LT are not supported by ns: they compare ttls, and the kv store's compare-and-swap compares values only\r\n"},
		{cmd("PEXPIRE", "n", "0"), ":1\r\n"},
		{cmd("EXISTS", "n"), ":0\r\n"},
		{cmd("MSET", "k1", "v1", "k2", "v2"), "+OK\r\n"},
		{cmd("MSET", "k1", "v1", "k2"), "-ERR wrong number of arguments for 'mset' command\r\n"},
		{cmd("MGET", "k1", "zz", "k2"), "*3\r\n$2\r\nv1\r\n$-1\r\n$2\r\nv2\r\n"},
		{cmd("EXISTS", "k1", "k2", "k1", "zz"), ":3\r\n"},
		{cmd("TYPE", "k1"), "+string\r\n"},
		{cmd("TYPE", "zz"), "+none\r\n"},
		{cmd("DEL", "k1", "zz"), ":1\r\n"},
		{cmd("UNLINK", "k2"), ":1\r\n"},
		{cmd("INCR", "c"), ":1\r\n"},
		{cmd("INCRBY", "c", "10"), ":11\r\n"},
		{cmd("DECR", "c"), ":10\r\n"},
		{cmd("DECRBY", "c", "20"), ":-10\r\n"},
		{cmd("INCRBY", "c", "1.5"), "-ERR value is not an integer or out of range\r\n"},
		{cmd("SET", "str", "abc"), "+OK\r\n"},
		{cmd("INCR", "str"), "-ERR value is not an integer or out of range\r\n"},
		{cmd("DECRBY", "c", "-9223372036854775808"), "-ERR decrement would overflow\r\n"},
		{cmd("SET", "big", "9223372036854775807"), "+OK\r\n"},
		{cmd("INCR", "big"), "-ERR increment or decrement would overflow\r\n"},
		{cmd("SET", "s", "Hello World"), "+OK\r\n"},
		{cmd("STRLEN", "s"), ":11\r\n"},
		{cmd("STRLEN", "nope"), ":0\r\n"},
		{cmd("GETRANGE", "s", "0", "4"), "$5\r\nHello\r\n"},
		{cmd("GETRANGE", "s", "-5", "-1"), "$5\r\nWorld\r\n"},
		{cmd("GETRANGE", "s", "-1", "-5"), "$0\r\n\r\n"},
		{cmd("SUBSTR", "s", "6", "100"), "$5\r\nWorld\r\n"},
		{cmd("GETRANGE", "nope", "0", "-1"), "$0\r\n\r\n"},
		{cmd("GETRANGE", "s", "x", "1"), "-ERR value is not an integer or out of range\r\n"},
		{cmd("GETEX", "s"), "$11\r\nHello World\r\n"},
		{cmd("GETEX", "s", "EX", "30"), "$11\r\nHello World\r\n"},
		{cmd("TTL", "s"), ":30\r\n"},
		{cmd("GETEX", "s", "PERSIST"), "$11\r\nHello World\r\n"},
		{cmd("TTL", "s"), ":-1\r\n"},
		{cmd("GETEX", "nope", "EX", "30"), "$-1\r\n"},
		{cmd("GETEX", "s", "EX", "0"), "-ERR invalid expire time in 'getex' command\r\n"},
		{cmd("GETEX", "s", "KEEPTTL"), "-ERR syntax error\r\n"},
		{cmd("NS.CAS", "a", "nope", "x"), ":0\r\n"},
		{cmd("ns.cas", "a", "4", "5"), ":1\r\n"},
		{cmd("GET", "a"), "$1\r\n5\r\n"},
		{cmd("MULTI"), "-ERR MULTI is not supported by ns: keys live on different partitions with no transaction across them (use NS.CAS for a conditional write)\r\n"},
		{cmd("FLUSHALL", "ASYNC"), "-ERR FLUSHALL is disabled on ns: it removes every key of the cluster; start nsnode with --resp-flushall to allow it\r\n"},
		{cmd("FLUSHDB", "NOW"), "-ERR syntax error\r\n"},
		{cmd("SCAN", "x"), "-ERR invalid cursor\r\n"},
		{cmd("SCAN", "0", "COUNT", "0"), "-ERR syntax error\r\n"},
		{cmd("SCAN", "0", "MATCH"), "-ERR syntax error\r\n"},
		{cmd("SCAN", "0", "TYPE", "hash"), "*2\r\n$14\r\n17592186044416\r\n*0\r\n"},
		{cmd("CLIENT", "SETNAME", "me"), "+OK\r\n"},
		{cmd("CLIENT", "GETNAME"), "$2\r\nme\r\n"},
		{cmd("CLIENT", "SETNAME", "a b"), "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
		{cmd("CLIENT", "SETINFO", "LIB-NAME", "go-redis"), "+OK\r\n"},
		{cmd("CLIENT", "KILL"), "-ERR unknown subcommand 'KILL'. Try CLIENT HELP.\r\n"},
		{cmd("CONFIG", "GET", "save"), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"},
		{cmd("CONFIG", "GET", "appendonly"), "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"},
		{cmd("CONFIG", "SET", "save", ""), "-ERR CONFIG SET is not supported by ns: configure nsnode with its flags\r\n"},
		{cmd("COMMAND", "COUNT"), ":" + itoa(len(commands)) + "\r\n"},
		{cmd("COMMAND", "DOCS"), "*0\r\n"},
		{cmd("COMMAND", "INFO", "get"), "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*0\r\n*0\r\n"},
	} {
		exchange(t, c, tc.in, tc.want)
	}
	c3 := dial(t, addr)
	hello := "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:2\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
	exchange(t, c3, cmd("HELLO", "3"), hello)
	for _, tc := range []struct{ in, want string }{
		{cmd("GET", "nope"), "_\r\n"},
		{cmd("MGET", "nope", "c"), "*2\r\n_\r\n$3\r\n-10\r\n"},
		{cmd("CONFIG", "GET", "save"), "%1\r\n$4\r\nsave\r\n$0\r\n\r\n"},
		{cmd("COMMAND", "DOCS"), "%0\r\n"},
		{cmd("COMMAND", "INFO", "get"), "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~0\r\n~0\r\n*0\r\n*0\r\n"},
		{cmd("SET", "b", "2", "XX"), "_\r\n"},
		{cmd("HELLO", "4"), "-NOPROTO unsupported protocol version\r\n"},
		{cmd("HELLO", "2", "SETNAME", "x"), "*14\r\n"},
	} {
		exchange(t, c3, tc.in, tc.want)
	}
	exchange(t, c, cmd("AUTH", "x"), "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n")
	exchange(t, c, cmd("QUIT"), "+OK\r\n")
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes after QUIT, want EOF", n)
	}
}

// TestPipelineIsOneBatch sends many commands in one write: they are
// answered in order, with one Dispatch per batch.
func TestPipelineIsOneBatch(t *testing.T) {
	s, fb, addr := start(t, nil)
	c := dial(t, addr)
	var in, want strings.Builder
	const n = 100
	for i := 0; i < n; i++ {
		k := "k" + itoa(i)
		in.WriteString(cmd("SET", k, itoa(i)))
		in.WriteString(cmd("PING"))
		in.WriteString(cmd("GET", k))
		want.WriteString("+OK\r\n+PONG\r\n$" + itoa(len(itoa(i))) + "\r\n" + itoa(i) + "\r\n")
	}
	exchange(t, c, in.String(), want.String())
	st := s.Stats()
	if st.Commands != 3*n {
		t.Fatalf("commands = %d, want %d", st.Commands, 3*n)
	}
	// One write of ~6 KiB arrives in one or a few reads: a handful of
	// batches, never one per command.
	if calls := fb.calls.Load(); calls > 10 || calls != int64(st.Batches) {
		t.Fatalf("%d Dispatch calls, %d batches for %d commands: want a few batches", calls, st.Batches, 3*n)
	}
}

// TestLimits checks every named limit at its edge.
func TestLimits(t *testing.T) {
	t.Run("max-connections", func(t *testing.T) {
		s, _, addr := start(t, func(c *Config) { c.MaxConnections = 2 })
		c1, c2 := dial(t, addr), dial(t, addr)
		exchange(t, c1, cmd("PING"), "+PONG\r\n")
		exchange(t, c2, cmd("PING"), "+PONG\r\n")
		c3 := dial(t, addr)
		exchange(t, c3, "", "-ERR max number of clients reached\r\n")
		if st := s.Stats(); st.Rejected != 1 || st.Connections != 2 {
			t.Fatalf("stats %+v", st)
		}
		c1.Close()
		deadline := time.Now().Add(5 * time.Second)
		for s.Stats().Connections != 1 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		exchange(t, dial(t, addr), cmd("PING"), "+PONG\r\n")
	})
	t.Run("idle-timeout", func(t *testing.T) {
		_, _, addr := start(t, func(c *Config) { c.IdleTimeout = 100 * time.Millisecond })
		c := dial(t, addr)
		exchange(t, c, cmd("PING"), "+PONG\r\n")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read: %v, want EOF", err)
		}
		if d := time.Since(start); d < 80*time.Millisecond {
			t.Fatalf("closed after %v, before the idle timeout", d)
		}
	})
	t.Run("max-key-bytes", func(t *testing.T) {
		_, _, addr := start(t, func(c *Config) { c.Limits.MaxKeyBytes = 4 })
		c := dial(t, addr)
		exchange(t, c, cmd("SET", "abcd", "v"), "+OK\r\n")
		exchange(t, c, cmd("SET", "abcde", "v"), "-ERR ns limit max-key-bytes exceeded: got 5, max 4 (send less, or raise the node's --max-key-bytes)\r\n")
		exchange(t, c, cmd("MGET", "a", "abcde"), "-ERR ns limit max-key-bytes exceeded: got 5, max 4 (send less, or raise the node's --max-key-bytes)\r\n")
		exchange(t, c, cmd("GET", ""), "-ERR ns does not accept the empty key\r\n")
	})
	t.Run("max-value-bytes", func(t *testing.T) {
		_, _, addr := start(t, func(c *Config) { c.Limits.MaxValueBytes = 8; c.MaxCommandBytes = 1 })
		c := dial(t, addr)
		exchange(t, c, cmd("SET", "k", "12345678"), "+OK\r\n")
		exchange(t, c, cmd("SET", "k", "123456789"), "-ERR ns limit max-value-bytes exceeded: got 9, max 8 (send less, or raise the node's --max-value-bytes)\r\n")
		exchange(t, c, cmd("MSET", "a", "1", "b", "123456789"), "-ERR ns limit max-value-bytes exceeded: got 9, max 8 (send less, or raise the node's --max-value-bytes)\r\n")
		exchange(t, c, cmd("GET", "k"), "$8\r\n12345678\r\n")
		// A bulk string larger than a whole command may be is a protocol
		// error, as in Redis past proto-max-bulk-len: the connection
		// closes. (The floor of the command size is a maximal key and
		// value plus 64 KiB; a bulk string may take all but 64 KiB.)
		exchange(t, c, cmd("SET", "k", strings.Repeat("v", 2000)), "-ERR Protocol error: invalid bulk length\r\n")
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read: %v, want EOF", err)
		}
	})
	t.Run("max-command-bytes", func(t *testing.T) {
		_, _, addr := start(t, func(c *Config) { c.Limits.MaxValueBytes = 100; c.Limits.MaxKeyBytes = 10; c.MaxCommandBytes = 1 })
		c := dial(t, addr)
		// The floor is one maximal key and value plus 64 KiB.
		args := []string{"MSET"}
		for i := 0; i < 800; i++ {
			args = append(args, "k", strings.Repeat("v", 100))
		}
		exchange(t, c, cmd(args...), "-ERR Protocol error: command larger than the server's max command size\r\n")
	})
	t.Run("max-batch", func(t *testing.T) {
		_, fb, addr := start(t, func(c *Config) { c.Limits.MaxBatch = 4 })
		c := dial(t, addr)
		exchange(t, c, cmd("MSET", "a", "1", "b", "2", "c", "3", "d", "4"), "+OK\r\n")
		exchange(t, c, cmd("MGET", "a", "b", "c", "d", "e"), "-ERR ns limit max-batch exceeded: 5 keys in one command, max 4 (send fewer, or raise the node's --max-batch)\r\n")
		before := fb.calls.Load()
		var in, want strings.Builder
		for i := 0; i < 10; i++ {
			in.WriteString(cmd("GET", "a"))
			want.WriteString("$1\r\n1\r\n")
		}
		exchange(t, c, in.String(), want.String())
		if calls := fb.calls.Load() - before; calls < 3 {
			t.Fatalf("10 GETs in %d batches, want batches of at most 4", calls)
		}
		if fb.items.Load() > 0 && fb.items.Load()/fb.calls.Load() > 4 {
			t.Fatalf("a batch over max-batch")
		}
	})
	t.Run("protocol-error", func(t *testing.T) {
		_, _, addr := start(t, nil)
		c := dial(t, addr)
		exchange(t, c, "*1\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n")
	})
}

// TestErrorsFromTheNode maps ns errors to Redis replies.
func TestErrorsFromTheNode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{transport.ErrBackpressure, "-BUSY ns backpressure: transport: backpressure: worker queue full\r\n"},
		{&transport.MovedError{Partition: 3, OwnerID: "n2", OwnerAddr: "x:1", Epoch: 9}, "-TRYAGAIN ns: transport: partition 3 moved to n2 (x:1) at table epoch 9; refresh the table\r\n"},
		{transport.ErrUnavailable, "-TRYAGAIN ns: transport: node unavailable\r\n"},
		{context.DeadlineExceeded, "-ERR ns timeout (the write may or may not have been applied): context deadline exceeded\r\n"},
	} {
		_, fb, addr := start(t, nil)
		fb.err = tc.err
		exchange(t, dial(t, addr), cmd("INCR", "k"), tc.want)
	}
}

func TestAuth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := transport.LoadTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, _, addr := start(t, func(c *Config) { c.Tokens = tokens })
	c := dial(t, addr)
	exchange(t, c, cmd("GET", "k"), "-NOAUTH Authentication required.\r\n")
	exchange(t, c, cmd("AUTH", "nope"), "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	exchange(t, c, cmd("HELLO", "3"), "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n")
	exchange(t, c, cmd("AUTH", "default", "s3cret")+cmd("GET", "k"), "+OK\r\n$-1\r\n")
	c2 := dial(t, addr)
	exchange(t, c2, cmd("HELLO", "2", "AUTH", "default", "s3cret"), "*14\r\n")
}

// TestCloseEndsConnections: Close returns with clients still connected,
// and their goroutines gone (goleak checks at the end).
func TestCloseEndsConnections(t *testing.T) {
	s, _, addr := start(t, nil)
	c := dial(t, addr)
	exchange(t, c, cmd("PING"), "+PONG\r\n")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bufio.NewReader(c).ReadByte(); err == nil {
		t.Fatal("connection still open after Close")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("listener still open after Close")
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a backend: no error")
	}
	if _, err := New(Config{Backend: &fakeBackend{}, IdleTimeout: -1}); err == nil {
		t.Fatal("negative idle timeout: no error")
	}
}

// TestHumanBytes: INFO's *_human fields at their unit edges, in Redis's
// form.
func TestHumanBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0B"}, {1023, "1023B"}, {1024, "1.00K"}, {1536, "1.50K"}, {1<<20 - 1, "1024.00K"}, {1 << 20, "1.00M"}, {3 << 30, "3.00G"}} {
		if got := humanBytes(c.n); got != c.want {
			t.Errorf("humanBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
