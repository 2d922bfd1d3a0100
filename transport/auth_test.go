package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/internal/tlsutil"
	"github.com/nothingshared/ns/internal/tlsutil/certtest"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
)

// stubBackend answers every item with its payload. gate, when set, holds
// Dispatch until it is closed, counting the dispatches running.
type stubBackend struct {
	gate    chan struct{}
	running atomic.Int32
	peak    atomic.Int32
}

func (b *stubBackend) NodeID() string { return "stub" }
func (b *stubBackend) Dispatch(ctx context.Context, items []*nsv1.Item, _ bool) []*nsv1.Result {
	if b.gate != nil {
		n := b.running.Add(1)
		for {
			p := b.peak.Load()
			if n <= p || b.peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-b.gate:
		case <-ctx.Done():
		}
		b.running.Add(-1)
	}
	out := make([]*nsv1.Result, len(items))
	for i, it := range items {
		out[i] = &nsv1.Result{Payload: it.GetPayload()}
	}
	return out
}
func (b *stubBackend) Table() *ring.Table {
	t, _ := ring.New(ring.DefaultConfig(), 1, []ring.Member{{ID: "stub", Addr: "127.0.0.1:1"}})
	return t
}
func (b *stubBackend) WatchTable() (<-chan struct{}, func()) { return make(chan struct{}), func() {} }
func (b *stubBackend) Members() []*nsv1.Member               { return nil }
func (b *stubBackend) Stats() *nsv1.StatsResponse            { return &nsv1.StatsResponse{} }
func (b *stubBackend) Leave() error                          { return nil }
func (b *stubBackend) HotKeys(context.Context, int) ([]*nsv1.HotKey, error) {
	return nil, nil
}
func (b *stubBackend) Replicate(_ context.Context, req *nsv1.ReplicateRequest) []*nsv1.Result {
	return make([]*nsv1.Result, len(req.GetOps()))
}
func (b *stubBackend) Handoff(nsv1.PeerService_HandoffServer) error { return nil }

// serve starts a Server on loopback and returns its address.
func serve(t *testing.T, cfg ServerConfig) string {
	t.Helper()
	stub := &stubBackend{}
	if cfg.Dispatcher == nil {
		cfg.Dispatcher = stub
	}
	if cfg.Cluster == nil {
		cfg.Cluster = stub
	}
	if cfg.Peer == nil {
		cfg.Peer = stub
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetServing(true)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return l.Addr().String()
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	c, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tlsStore(t *testing.T, f certtest.Files) *tlsutil.Store {
	t.Helper()
	s, err := tlsutil.New(tlsutil.Config{CAFile: f.CA, CertFile: f.Cert, KeyFile: f.Key})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeTokens(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "tokens")
	certtest.WriteFile(t, p, []byte(body))
	return p
}

// calls tries a public call (Send) and a peer call (Forward) on conn.
func calls(t *testing.T, conn *grpc.ClientConn) (public, peerCall codes.Code) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := nsv1.NewNodeServiceClient(conn).Send(ctx, &nsv1.SendRequest{Item: &nsv1.Item{Service: "echo", Key: []byte("k")}})
	public = status.Code(err)
	_, err = nsv1.NewPeerServiceClient(conn).Forward(ctx, &nsv1.ForwardRequest{})
	return public, status.Code(err)
}

func TestAuthTLS(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	ca := certtest.NewCA(t, "ns-ca")
	other := certtest.NewCA(t, "other-ca")
	nodeF := certtest.Write(t, dir, "n1-", ca.Issue(t, certtest.Leaf{CommonName: "n1", DNS: []string{"ns-peer"}}), ca)
	node2F := certtest.Write(t, dir, "n2-", ca.Issue(t, certtest.Leaf{CommonName: "n2", URIs: []string{"spiffe://ns-peer/n2"}}), ca)
	appF := certtest.Write(t, dir, "app-", ca.Issue(t, certtest.Leaf{CommonName: "app"}), ca)
	evilF := certtest.Write(t, dir, "evil-", other.Issue(t, certtest.Leaf{CommonName: "evil", DNS: []string{"ns-peer"}}), ca)
	tokens, err := LoadTokenFile(writeTokens(t, dir, "# tokens\ns3cret\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv := tlsStore(t, nodeF)
	creds := func(f certtest.Files) grpc.DialOption {
		return grpc.WithTransportCredentials(credentials.NewTLS(tlsStore(t, f).ClientConfig()))
	}
	anon := grpc.WithTransportCredentials(credentials.NewTLS(func() *tls.Config {
		c := tlsStore(t, appF).ClientConfig()
		c.GetClientCertificate = nil // presents no certificate
		return c
	}()))

	mtls := serve(t, ServerConfig{Options: append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(srv.ServerConfig(true)))},
		NewAuthorizer(AuthConfig{PeerName: "ns-peer"}).ServerOptions()...)})
	mtlsToken := serve(t, ServerConfig{Options: append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(srv.ServerConfig(false)))},
		NewAuthorizer(AuthConfig{PeerName: "ns-peer", Tokens: tokens}).ServerOptions()...)})
	plainToken := serve(t, ServerConfig{Options: NewAuthorizer(AuthConfig{Tokens: tokens}).ServerOptions()})

	tok := grpc.WithPerRPCCredentials(TokenCredentials("s3cret"))
	badTok := grpc.WithPerRPCCredentials(TokenCredentials("guess"))
	plain := grpc.WithTransportCredentials(insecure.NewCredentials())
	for _, tc := range []struct {
		name             string
		addr             string
		opts             []grpc.DialOption
		public, peerCode codes.Code
	}{
		{"mtls: node cert", mtls, []grpc.DialOption{creds(node2F)}, codes.OK, codes.OK},
		{"mtls: client cert cannot call peer rpcs", mtls, []grpc.DialOption{creds(appF)}, codes.OK, codes.PermissionDenied},
		{"mtls: no cert refused", mtls, []grpc.DialOption{anon}, codes.Unavailable, codes.Unavailable},
		{"mtls: other CA refused", mtls, []grpc.DialOption{creds(evilF)}, codes.Unavailable, codes.Unavailable},
		{"mtls: plaintext refused", mtls, []grpc.DialOption{plain}, codes.Unavailable, codes.Unavailable},
		{"mtls+token: token without cert", mtlsToken, []grpc.DialOption{anon, tok}, codes.OK, codes.PermissionDenied},
		{"mtls+token: nothing", mtlsToken, []grpc.DialOption{anon}, codes.Unauthenticated, codes.PermissionDenied},
		{"mtls+token: wrong token", mtlsToken, []grpc.DialOption{anon, badTok}, codes.Unauthenticated, codes.PermissionDenied},
		{"mtls+token: client cert", mtlsToken, []grpc.DialOption{creds(appF)}, codes.OK, codes.PermissionDenied},
		{"mtls+token: node cert", mtlsToken, []grpc.DialOption{creds(nodeF)}, codes.OK, codes.OK},
		{"mtls+token: other CA refused", mtlsToken, []grpc.DialOption{creds(evilF), tok}, codes.Unavailable, codes.Unavailable},
		{"token: token", plainToken, []grpc.DialOption{plain, tok}, codes.OK, codes.OK},
		{"token: none", plainToken, []grpc.DialOption{plain}, codes.Unauthenticated, codes.Unauthenticated},
		{"token: wrong", plainToken, []grpc.DialOption{plain, badTok}, codes.Unauthenticated, codes.Unauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub, pc := calls(t, dial(t, tc.addr, tc.opts...))
			if pub != tc.public || pc != tc.peerCode {
				t.Fatalf("public %v, peer %v; want %v, %v", pub, pc, tc.public, tc.peerCode)
			}
		})
	}
}

func TestAuthorizeUnit(t *testing.T) {
	dir := t.TempDir()
	tokens, err := LoadTokenFile(writeTokens(t, dir, "a\nb\n"))
	if err != nil {
		t.Fatal(err)
	}
	peerCert := &x509.Certificate{DNSNames: []string{"ns-peer"}}
	appCert := &x509.Certificate{DNSNames: []string{"app"}}
	withCert := func(c *x509.Certificate) context.Context {
		st := tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c}}}
		return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: st}})
	}
	withTok := func(ctx context.Context, v string) context.Context {
		return metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", v))
	}
	bg := context.Background()
	for _, tc := range []struct {
		name   string
		cfg    AuthConfig
		ctx    context.Context
		method string
		want   codes.Code
	}{
		{"open", AuthConfig{}, bg, "/ns.v1.PeerService/Forward", codes.OK},
		{"health is open", AuthConfig{Tokens: tokens, PeerName: "ns-peer"}, bg, "/grpc.health.v1.Health/Check", codes.OK},
		{"reflection needs a token", AuthConfig{Tokens: tokens}, bg, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", codes.Unauthenticated},
		{"second token", AuthConfig{Tokens: tokens}, withTok(bg, "Bearer b"), "/ns.v1.KVService/Get", codes.OK},
		{"scheme case", AuthConfig{Tokens: tokens}, withTok(bg, "bearer a"), "/ns.v1.KVService/Get", codes.OK},
		{"not bearer", AuthConfig{Tokens: tokens}, withTok(bg, "Basic a"), "/ns.v1.KVService/Get", codes.Unauthenticated},
		{"prefix of a token", AuthConfig{Tokens: tokens}, withTok(bg, "Bearer "), "/ns.v1.KVService/Get", codes.Unauthenticated},
		{"peer cert", AuthConfig{PeerName: "ns-peer"}, withCert(peerCert), "/ns.v1.PeerService/Handoff", codes.OK},
		{"app cert on peer", AuthConfig{PeerName: "ns-peer"}, withCert(appCert), "/ns.v1.PeerService/Replicate", codes.PermissionDenied},
		{"token on peer with tls", AuthConfig{PeerName: "ns-peer", Tokens: tokens}, withTok(bg, "Bearer a"), "/ns.v1.PeerService/Replicate", codes.PermissionDenied},
		{"app cert skips the token", AuthConfig{PeerName: "ns-peer", Tokens: tokens}, withCert(appCert), "/ns.v1.NodeService/Stream", codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewAuthorizer(tc.cfg).Authorize(tc.ctx, tc.method)
			if status.Code(err) != tc.want {
				t.Fatalf("Authorize = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTokenFileReload(t *testing.T) {
	dir := t.TempDir()
	p := writeTokens(t, dir, "old\n")
	f, err := LoadTokenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	f.checkEvery = 0
	if !f.Valid("old") || f.Valid("new") || f.Token() != "old" {
		t.Fatal("initial tokens wrong")
	}
	certtest.WriteFile(t, p, []byte("new\nold\n"))
	if !f.Valid("new") || !f.Valid("old") || f.Token() != "new" {
		t.Fatal("rotation step 1: both tokens valid, new first")
	}
	certtest.WriteFile(t, p, []byte("new\n"))
	if f.Valid("old") || !f.Valid("new") {
		t.Fatal("rotation step 2: old token still valid")
	}
	certtest.WriteFile(t, p, []byte("# emptied by mistake\n"))
	if !f.Valid("new") {
		t.Fatal("an empty file must keep the last tokens")
	}
	md, _ := f.Credentials().GetRequestMetadata(context.Background())
	if md["authorization"] != "Bearer new" {
		t.Fatalf("credentials send %q", md["authorization"])
	}
	if _, err := LoadTokenFile(filepath.Join(dir, "absent")); !errors.Is(err, ErrBadTokenFile) {
		t.Fatalf("absent file: %v", err)
	}
}

func TestParseTokens(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{"a\n", []string{"a"}, ""},
		{"  a  \r\n\n# c\nb", []string{"a", "b"}, ""},
		{"", nil, "no token"},
		{"# only\n\n", nil, "no token"},
		{"a b\n", nil, "printable"},
		{"caf\xc3\xa9\n", nil, "printable"},
		{strings.Repeat("x", MaxTokenBytes+1), nil, "longer"},
	} {
		got, err := ParseTokens([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTokens(%q) err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("ParseTokens(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseTokens(f *testing.F) {
	for _, s := range []string{"a\n", "# c\n\nb\r\n", "a b", "\x00", strings.Repeat("t", 64)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		toks, err := ParseTokens(b)
		if err != nil {
			return
		}
		if len(toks) == 0 {
			t.Fatal("no error and no token")
		}
		for _, tok := range toks {
			if tok == "" || len(tok) > MaxTokenBytes || strings.ContainsAny(tok, " \t\r\n") {
				t.Fatalf("bad token %q accepted", tok)
			}
		}
	})
}

func TestLimitListener(t *testing.T) {
	leakCheck(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := LimitListener(inner, 2, nil)
	defer l.Close()
	var mu sync.Mutex
	var accepted []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
		}
	}()
	dialOne := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	closedByServer := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !isTimeout(err)
	}
	a, b := dialOne(), dialOne()
	defer a.Close()
	defer b.Close()
	waitUntil(t, "two open", func() bool { return l.Open() == 2 })
	c := dialOne()
	defer c.Close()
	if !closedByServer(c) {
		t.Fatal("the third connection was not closed")
	}
	if l.Refused() != 1 {
		t.Fatalf("refused %d, want 1", l.Refused())
	}
	// Freeing a slot lets the next connection in.
	mu.Lock()
	accepted[0].Close()
	accepted[0].Close() // twice: the slot is given back once
	mu.Unlock()
	waitUntil(t, "one open", func() bool { return l.Open() == 1 })
	d := dialOne()
	defer d.Close()
	waitUntil(t, "two open again", func() bool { return l.Open() == 2 })
	_ = d.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := d.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("the connection after a free slot was closed: %v", err)
	}
	mu.Lock()
	for _, c := range accepted {
		c.Close()
	}
	mu.Unlock()
}

// leakCheck checks for leaked goroutines after the test's cleanups (which
// stop its servers and connections) have run.
func leakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLimitsAtTheEdge checks the transport-level limits: streams per
// connection and frames in flight per stream wait (never more run at once),
// an oversized message is refused with ResourceExhausted naming the size, and
// in every case the server keeps serving.
func TestLimitsAtTheEdge(t *testing.T) {
	leakCheck(t)
	plain := grpc.WithTransportCredentials(insecure.NewCredentials())

	t.Run("max-concurrent-streams", func(t *testing.T) {
		b := &stubBackend{gate: make(chan struct{})}
		addr := serve(t, ServerConfig{Dispatcher: b, Limits: Limits{MaxConcurrentStreams: 3}})
		conn := dial(t, addr, plain)
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := nsv1.NewNodeServiceClient(conn).Send(context.Background(), &nsv1.SendRequest{Item: &nsv1.Item{Service: "echo", Key: []byte("k")}})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		waitUntil(t, "3 calls running", func() bool { return b.running.Load() == 3 })
		time.Sleep(50 * time.Millisecond) // give a 4th call the chance to break the limit
		if p := b.peak.Load(); p != 3 {
			t.Fatalf("peak %d calls at once, want 3", p)
		}
		close(b.gate)
		wg.Wait()
	})

	t.Run("max-stream-in-flight", func(t *testing.T) {
		b := &stubBackend{gate: make(chan struct{})}
		addr := serve(t, ServerConfig{Dispatcher: b, Limits: Limits{MaxStreamInFlight: 2}})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := nsv1.NewNodeServiceClient(dial(t, addr, plain)).Stream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 6; i++ {
			if err := st.Send(&nsv1.StreamRequest{Id: uint64(i), Items: []*nsv1.Item{{Service: "echo", Key: []byte("k")}}}); err != nil {
				t.Fatal(err)
			}
		}
		waitUntil(t, "2 frames running", func() bool { return b.running.Load() == 2 })
		time.Sleep(50 * time.Millisecond)
		if p := b.peak.Load(); p != 2 {
			t.Fatalf("peak %d frames at once, want 2", p)
		}
		close(b.gate)
		for i := 0; i < 6; i++ {
			if _, err := st.Recv(); err != nil {
				t.Fatal(err)
			}
		}
		_ = st.CloseSend()
	})

	t.Run("max-recv-msg-bytes", func(t *testing.T) {
		addr := serve(t, ServerConfig{Limits: Limits{MaxRecvMsgBytes: 4 << 20}})
		c := nsv1.NewNodeServiceClient(dial(t, addr, plain, grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20))))
		ctx := context.Background()
		_, err := c.Send(ctx, &nsv1.SendRequest{Item: &nsv1.Item{Service: "echo", Key: []byte("k"), Payload: make([]byte, 4<<20)}})
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "larger than max") {
			t.Fatalf("oversized message: %v, want ResourceExhausted", err)
		}
		if _, err := c.Send(ctx, &nsv1.SendRequest{Item: &nsv1.Item{Service: "echo", Key: []byte("k"), Payload: []byte("v")}}); err != nil {
			t.Fatalf("after an oversized message: %v", err)
		}
	})

	t.Run("max-connections", func(t *testing.T) {
		addr := serve(t, ServerConfig{Limits: Limits{MaxConnections: 1}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		first := nsv1.NewNodeServiceClient(dial(t, addr, plain))
		if _, err := first.Send(ctx, &nsv1.SendRequest{Item: &nsv1.Item{Service: "echo", Key: []byte("k")}}); err != nil {
			t.Fatal(err)
		}
		second := nsv1.NewNodeServiceClient(dial(t, addr, plain))
		sctx, scancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer scancel()
		_, err := second.Send(sctx, &nsv1.SendRequest{Item: &nsv1.Item{Service: "echo", Key: []byte("k")}})
		if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
			t.Fatalf("second connection: %v, want Unavailable", err)
		}
		if _, err := first.Send(ctx, &nsv1.SendRequest{Item: &nsv1.Item{Service: "echo", Key: []byte("k")}}); err != nil {
			t.Fatalf("first connection after the refusal: %v", err)
		}
	})
}

func TestLimitsValidate(t *testing.T) {
	l := DefaultLimits()
	if l.MaxConnections != DefaultMaxConnections || l.MaxConcurrentStreams != DefaultMaxConcurrentStreams {
		t.Fatalf("defaults: %+v", l)
	}
	if err := (Limits{MaxConcurrentStreams: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "max-concurrent-streams") {
		t.Fatalf("negative streams: %v", err)
	}
	if err := (Limits{MaxConnections: -1}).Validate(); err != nil {
		t.Fatalf("negative connections means unlimited: %v", err)
	}
}
