package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/cluster"
	"github.com/nothingshared/ns/internal/clustertest"
	"github.com/nothingshared/ns/internal/tlsutil"
	"github.com/nothingshared/ns/internal/tlsutil/certtest"
	"github.com/nothingshared/ns/node"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// secureFiles are the certificates and keys of a secured test cluster.
type secureFiles struct {
	dir       string
	nodes     map[string]certtest.Files
	app       certtest.Files // a client certificate of the same CA
	foreign   certtest.Files // a certificate of another CA, with the peer name
	gossipKey string         // key file path
	key2      string         // a second key file, for rotation
}

func newSecureFiles(t *testing.T, ids ...string) secureFiles {
	t.Helper()
	dir := t.TempDir()
	ca := certtest.NewCA(t, "ns-e2e-ca")
	other := certtest.NewCA(t, "someone-else")
	f := secureFiles{dir: dir, nodes: map[string]certtest.Files{}}
	for _, id := range ids {
		f.nodes[id] = certtest.Write(t, dir, id+"-", ca.Issue(t, certtest.Leaf{CommonName: id, DNS: []string{tlsutil.DefaultPeerName}}), ca)
	}
	f.app = certtest.Write(t, dir, "app-", ca.Issue(t, certtest.Leaf{CommonName: "nsctl"}), ca)
	f.foreign = certtest.Write(t, dir, "foreign-", other.Issue(t, certtest.Leaf{CommonName: "x", DNS: []string{tlsutil.DefaultPeerName}}), other)
	f.gossipKey = filepath.Join(dir, "gossip.key")
	f.key2 = filepath.Join(dir, "gossip2.key")
	for _, p := range []string{f.gossipKey, f.key2} {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		if err := os.WriteFile(p, []byte(cluster.EncodeKey(k)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f secureFiles) nodeFlags(id string) []string {
	n := f.nodes[id]
	return []string{"--tls-ca", n.CA, "--tls-cert", n.Cert, "--tls-key", n.Key}
}

func (f secureFiles) nsctlFlags() []string {
	return []string{"--tls-ca", f.app.CA, "--tls-cert", f.app.Cert, "--tls-key", f.app.Key}
}

// tlsConn dials p with the app certificate; the harness's helpers (table,
// agreed) then use it.
func (f secureFiles) tlsConn(t *testing.T, p *proc) {
	t.Helper()
	s, err := tlsutil.New(tlsutil.Config{CAFile: f.app.CA, CertFile: f.app.Cert, KeyFile: f.app.Key})
	if err != nil {
		t.Fatal(err)
	}
	c, err := grpc.NewClient("passthrough:///"+p.grpc, grpc.WithTransportCredentials(credentials.NewTLS(s.ClientConfig())))
	if err != nil {
		t.Fatal(err)
	}
	p.conn = c
}

func logHas(p *proc, s string) bool {
	b, err := os.ReadFile(p.logPath)
	return err == nil && bytes.Contains(b, []byte(s))
}

// TestSecureCluster runs real nsnode processes with mutual TLS, gossip
// encryption and a cluster label: nsctl works with a client certificate and
// not without one; nodes with the wrong gossip key or label never join and
// the cluster says why; the gossip key rotates through nsctl.
func TestSecureCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	f := newSecureFiles(t, "s1", "s2", "bad-key", "bad-label")
	common := []string{"--gossip-profile", "local", "--cluster-label", "e2e-secure"}
	s1 := startNode(t, "s1", nil, append(append(f.nodeFlags("s1"), common...), "--gossip-key-file", f.gossipKey)...)
	s2 := startNode(t, "s2", []string{s1.gossip}, append(append(f.nodeFlags("s2"), common...), "--gossip-key-file", f.gossipKey)...)
	nodes := []*proc{s1, s2}
	for _, p := range nodes {
		f.tlsConn(t, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitFor(t, 30*time.Second, "two secure nodes agree", func() (bool, string) { return agreed(ctx, nodes, 2) })

	eps := "--endpoints=" + s1.grpc + "," + s2.grpc
	withTLS := func(args ...string) []string { return append(append([]string{eps}, f.nsctlFlags()...), args...) }
	nsctl(t, "", withTLS("put", "secret", "v1")...).want(t, 0)
	if r := nsctl(t, "", withTLS("get", "secret", "-o", "json")...).want(t, 0); !strings.Contains(r.stdout, "v1") {
		t.Fatalf("get: %s", r.stdout)
	}
	nsctl(t, "", eps, "get", "secret").want(t, exitCodeUnreachable)
	nsctl(t, "", eps, "--tls-ca", f.foreign.CA, "--tls-cert", f.foreign.Cert, "--tls-key", f.foreign.Key, "get", "secret").want(t, exitCodeUnreachable)

	// A client certificate cannot call peer RPCs.
	_, err := nsv1.NewPeerServiceClient(s1.client()).Forward(ctx, &nsv1.ForwardRequest{Items: []*nsv1.Item{{Service: "kv", Key: []byte("secret")}}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Forward with a client certificate: %v, want PermissionDenied", err)
	}

	// Intruders: the right certificates, the wrong gossip key or label.
	startNode(t, "bad-key", []string{s1.gossip}, append(append(f.nodeFlags("bad-key"), common...), "--gossip-key-file", f.key2)...)
	startNode(t, "bad-label", []string{s1.gossip}, append(append(f.nodeFlags("bad-label"), "--gossip-profile", "local",
		"--cluster-label", "other-cluster"), "--gossip-key-file", f.gossipKey)...)
	waitFor(t, 30*time.Second, "s1 to log the refused gossip", func() (bool, string) {
		return logHas(s1, "gossip refused"), "not logged yet"
	})
	time.Sleep(2 * time.Second) // several gossip rounds: neither intruder may slip in
	if ok, why := agreed(ctx, nodes, 2); !ok {
		t.Fatalf("the cluster changed: %s", why)
	}
	nsctl(t, "", withTLS("members", "-o", "json")...).want(t, 0)

	// Rotation through nsctl: install, use, remove on every member.
	nsctl(t, "", withTLS("gossip-key", "install", "@"+f.key2)...).want(t, 0)
	nsctl(t, "", withTLS("gossip-key", "use", "@"+f.key2)...).want(t, 0)
	nsctl(t, "", withTLS("gossip-key", "remove", "@"+f.gossipKey)...).want(t, 0)
	r := nsctl(t, "", withTLS("gossip-key", "list", "-o", "json")...).want(t, 0)
	var views []struct {
		Node    string   `json:"node"`
		Primary string   `json:"primary"`
		Keys    []string `json:"keys"`
	}
	r.decode(t, &views)
	keys, err := cluster.ReadKeyFile(f.key2)
	if err != nil {
		t.Fatal(err)
	}
	if len(views) != 2 {
		t.Fatalf("list: %+v", views)
	}
	for _, v := range views {
		if v.Primary != cluster.KeyFingerprint(keys[0]) || len(v.Keys) != 1 {
			t.Fatalf("after rotation %s has primary %s keys %v", v.Node, v.Primary, v.Keys)
		}
	}
	nsctl(t, "", withTLS("gossip-key", "remove", "@"+f.key2)...).want(t, 1) // the primary key stays
	// The bad-key node holds the new key: with the label it shares, it may now
	// join, which shows gossip really runs under the new key.
	waitFor(t, 60*time.Second, "the former bad-key node joins under the rotated key", func() (bool, string) {
		t, err := s1.table(ctx)
		if err != nil {
			return false, err.Error()
		}
		return len(t.GetMembers()) == 3, fmt.Sprintf("%d members", len(t.GetMembers()))
	})
	if r := nsctl(t, "", withTLS("get", "secret", "-o", "json")...).want(t, 0); !strings.Contains(r.stdout, "v1") {
		t.Fatalf("get after rotation: %s", r.stdout)
	}
}

// exitCodeUnreachable is nsctl's exit code when no endpoint answers.
const exitCodeUnreachable = 3

// rawCodec sends and receives bytes as they are, to put garbage on the wire
// inside well-formed gRPC messages.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// h2 builds raw HTTP/2 frames.
func h2frame(typ, flags byte, stream uint32, payload []byte) []byte {
	b := make([]byte, 9, 9+len(payload))
	b[0], b[1], b[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	b[3], b[4] = typ, flags
	binary.BigEndian.PutUint32(b[5:], stream)
	return append(b, payload...)
}

// hpackLiteral encodes headers as HPACK literals without indexing and
// without Huffman coding (names and values under 127 bytes).
func hpackLiteral(kv ...string) []byte {
	var b []byte
	for i := 0; i+1 < len(kv); i += 2 {
		b = append(b, 0x00, byte(len(kv[i])))
		b = append(b, kv[i]...)
		b = append(b, byte(len(kv[i+1])))
		b = append(b, kv[i+1]...)
	}
	return b
}

const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// badConn returns the bytes of bad connection number i, of several kinds.
func badConn(i int) []byte {
	junk := make([]byte, 16+i%200)
	_, _ = rand.Read(junk)
	settings := h2frame(4, 0, 0, nil)
	headers := h2frame(1, 0x4, 1, hpackLiteral(":method", "POST", ":scheme", "http", ":path", "/ns.v1.KVService/Put",
		":authority", "ns", "content-type", "application/grpc", "te", "trailers"))
	grpcMsg := func(declared uint32, body []byte) []byte {
		m := make([]byte, 5, 5+len(body))
		binary.BigEndian.PutUint32(m[1:], declared)
		return append(m, body...)
	}
	switch i % 8 {
	case 0: // nothing at all
		return nil
	case 1: // random bytes instead of the preface
		return junk
	case 2: // the preface, then a garbage frame
		return append([]byte(h2Preface), junk...)
	case 3: // a frame header announcing 16 MiB, then nothing
		return append([]byte(h2Preface), 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1)
	case 4: // a call whose message is cut short
		return bytes.Join([][]byte{[]byte(h2Preface), settings, headers, h2frame(0, 0, 1, grpcMsg(100, junk[:10]))}, nil)
	case 5: // a call with garbage protobuf, complete
		return bytes.Join([][]byte{[]byte(h2Preface), settings, headers, h2frame(0, 1, 1, grpcMsg(uint32(len(junk)), junk))}, nil)
	case 6: // a call announcing a 2 GiB message
		return bytes.Join([][]byte{[]byte(h2Preface), settings, headers, h2frame(0, 0, 1, grpcMsg(0x7fffffff, junk[:8]))}, nil)
	default: // headers with a garbage HPACK block
		return bytes.Join([][]byte{[]byte(h2Preface), settings, h2frame(1, 0x5, 1, junk)}, nil)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// TestBadInput sends oversized and malformed input to an in-process node:
// each gets its status and nothing panics; then 10,000 bad connections
// (garbage, truncated frames, lying lengths) leave goroutines and file
// descriptors at their baseline, and the node still serves what it stored.
func TestBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 connections")
	}
	c := clustertest.Start(t, clustertest.Config{Nodes: 1, Modify: func(_ int, cfg *node.Config) {
		cfg.Limits.MaxKeyBytes = 64
		cfg.Limits.MaxValueBytes = 1024
		cfg.Limits.MaxRecvMsgBytes = 4 << 20
		cfg.Logger = nil // 10,000 bad connections would flood the test log
	}})
	addr := c.Nodes[0].GRPCAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	kvc := nsv1.NewKVServiceClient(conn)
	if _, err := kvc.Put(ctx, &nsv1.PutRequest{Key: []byte("keep"), Value: []byte("me")}); err != nil {
		t.Fatal(err)
	}

	raw := func(method string, body []byte) error {
		var out []byte
		return conn.Invoke(ctx, method, &body, &out, grpc.ForceCodec(rawCodec{}))
	}
	garbage := []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x80}
	for _, tc := range []struct {
		name string
		err  error
		want codes.Code
		msg  string
	}{
		{"garbage protobuf (KV)", raw("/ns.v1.KVService/Put", garbage), codes.Internal, "unmarshal"},
		{"garbage protobuf (peer)", raw("/ns.v1.PeerService/Replicate", garbage), codes.Internal, "unmarshal"},
		{"unknown method", raw("/ns.v1.KVService/Nope", nil), codes.Unimplemented, ""},
		{"oversized message", func() error {
			_, err := kvc.Put(ctx, &nsv1.PutRequest{Key: []byte("k"), Value: make([]byte, 5<<20)})
			return err
		}(), codes.ResourceExhausted, "larger than max"},
		{"oversized value", func() error {
			_, err := kvc.Put(ctx, &nsv1.PutRequest{Key: []byte("k"), Value: make([]byte, 1025)})
			return err
		}(), codes.InvalidArgument, "max-value-bytes"},
		{"oversized key", func() error {
			_, err := kvc.Get(ctx, &nsv1.GetRequest{Key: make([]byte, 65)})
			return err
		}(), codes.InvalidArgument, "max-key-bytes"},
		{"garbage kv payload", func() error {
			_, err := nsv1.NewNodeServiceClient(conn).Send(ctx, &nsv1.SendRequest{Item: &nsv1.Item{Service: "kv", Key: []byte("k"), Payload: garbage}})
			return err
		}(), codes.InvalidArgument, ""},
		{"garbage replica op", func() error {
			_, err := nsv1.NewPeerServiceClient(conn).Replicate(ctx, &nsv1.ReplicateRequest{Ops: []*nsv1.ReplicaOp{{Partition: 1 << 30, Item: &nsv1.Item{}}}})
			return err
		}(), codes.OK, ""},
	} {
		if status.Code(tc.err) != tc.want || !strings.Contains(fmt.Sprint(tc.err), tc.msg) {
			t.Errorf("%s: %v, want %v %q", tc.name, tc.err, tc.want, tc.msg)
		}
	}
	conn.Close()

	settle := func() (int, int) {
		// Let the server's per-connection goroutines and sockets go.
		g, f := 0, 0
		for i := 0; i < 3; i++ {
			runtime.GC()
			time.Sleep(200 * time.Millisecond)
			g, f = runtime.NumGoroutine(), openFDs(t)
		}
		return g, f
	}
	g0, f0 := settle()

	n := 10000
	if v, err := strconv.Atoi(os.Getenv("NS_BAD_CONNS")); err == nil && v > 0 {
		n = v
	}
	start := time.Now()
	var next, dialErrs atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512)
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					dialErrs.Add(1)
					continue
				}
				_ = nc.SetDeadline(time.Now().Add(500 * time.Millisecond))
				if b := badConn(i); len(b) > 0 {
					_, _ = nc.Write(b)
				}
				if i%16 == 5 { // sometimes wait for the server's answer (or its close)
					_, _ = nc.Read(buf)
				}
				nc.Close()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d bad connections in %v (%d dials failed)", n, time.Since(start).Round(time.Millisecond), dialErrs.Load())
	if d := dialErrs.Load(); d > int64(n/100) {
		t.Errorf("%d of %d dials failed", d, n)
	}

	deadline := time.Now().Add(30 * time.Second)
	var g, fd int
	for {
		g, fd = runtime.NumGoroutine(), openFDs(t)
		if g <= g0+5 && fd <= f0+5 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("after the bad connections: %d goroutines (baseline %d), %d fds (baseline %d)\n%s", g, g0, fd, f0, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("goroutines %d -> %d, fds %d -> %d", g0, g, f0, fd)

	conn2, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	got, err := nsv1.NewKVServiceClient(conn2).Get(ctx, &nsv1.GetRequest{Key: []byte("keep")})
	if err != nil || string(got.GetValue()) != "me" {
		t.Fatalf("after the bad connections: %v %v", got, err)
	}
}
