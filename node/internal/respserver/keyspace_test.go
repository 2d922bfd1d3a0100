package respserver

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"github.com/nothingshared/ns/ring"
)

// keysIn returns n keys of one partition of the fake backend.
func keysIn(n int) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		if k := "k" + strconv.Itoa(i); ring.PartitionOf([]byte(k), fakePartitions) == 0 {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestKeyspaceLimits checks APPEND and MSETNX at max-value-bytes, SCAN's
// COUNT at max-batch, MSETNX across partitions, and FLUSHALL when enabled.
func TestKeyspaceLimits(t *testing.T) {
	_, fb, addr := start(t, func(c *Config) {
		c.Limits.MaxValueBytes = 16
		c.Limits.MaxBatch = 4
		c.FlushAll = true
	})
	c := dial(t, addr)
	k := keysIn(13)
	exchange(t, c, cmd("APPEND", "a", strings.Repeat("x", 10)), ":10\r\n")
	exchange(t, c, cmd("APPEND", "a", strings.Repeat("x", 6)), ":16\r\n") // at the limit
	exchange(t, c, cmd("APPEND", "a", "x"),
		"-ERR string exceeds maximum allowed size (ns limit max-value-bytes; raise the node's --max-value-bytes): kv: value would exceed its size limit: appending 1 bytes to 16 makes 17, max 16\r\n")
	exchange(t, c, cmd("STRLEN", "a"), ":16\r\n")
	// MSETNX: a pair encodes as 1+len(key)+1+len(value) bytes; two
	// pairs of exactly 16 bytes are at the limit, 17 over it.
	pad := func(a, b string, total int) string { return strings.Repeat("v", total-4-len(a)-len(b)-1) }
	exchange(t, c, cmd("MSETNX", k[0], "a", k[1], pad(k[0], k[1], 16)), ":1\r\n")
	exchange(t, c, cmd("MSETNX", k[2], "a", k[1], pad(k[2], k[1], 17)),
		"-ERR ns limit max-value-bytes exceeded: got 17, max 16 (MSETNX's keys and values together; send fewer, or raise the node's --max-value-bytes)\r\n")
	exchange(t, c, cmd("MSETNX", k[2], "z", k[0], "z"), ":0\r\n")
	exchange(t, c, cmd("GET", k[2]), "$-1\r\n")
	exchange(t, c, cmd("MSETNX", k[2], "z", "a", "z"),
		"-ERR MSETNX keys \""+k[2]+"\" and \"a\" are in different partitions: ns applies MSETNX atomically within one partition only (give the keys one {hash tag} in cluster mode, or use MSET)\r\n")
	// SCAN COUNT 100 returns at most max-batch (4) keys of a partition,
	// plus keys tied at the last position (none here).
	for _, key := range k[3:] {
		exchange(t, c, cmd("SET", key, "v"), "+OK\r\n")
	}
	if _, err := c.Write([]byte(cmd("SCAN", "0", "COUNT", "100"))); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	lines := readLines(t, r, 3)
	if lines[0] != "*2" || lines[2] == "0" || lines[2] == strconv.Itoa(1<<44) {
		t.Fatalf("SCAN reply starts %q: want a cursor inside partition 0", lines)
	}
	if n := readLines(t, r, 1)[0]; n != "*4" {
		t.Fatalf("SCAN COUNT 100 returned %s keys, want *4 (max-batch)", n)
	}
	readLines(t, r, 8)
	exchange(t, c, cmd("FLUSHALL"), "+OK\r\n")
	if n, _ := fb.DBSize(); n != 0 {
		t.Fatalf("%d keys after FLUSHALL", n)
	}
}

func readLines(t *testing.T, r *bufio.Reader, n int) []string {
	t.Helper()
	var out []string
	for range n {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimSuffix(l, "\r\n"))
	}
	return out
}
