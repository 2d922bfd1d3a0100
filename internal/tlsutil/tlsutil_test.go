package tlsutil_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nothingshared/ns/internal/tlsutil"
	"github.com/nothingshared/ns/internal/tlsutil/certtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func store(t *testing.T, f certtest.Files, serverName string) *tlsutil.Store {
	t.Helper()
	s, err := tlsutil.New(tlsutil.Config{CAFile: f.CA, CertFile: f.Cert, KeyFile: f.Key, ServerName: serverName})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handshake runs a TLS handshake over a pipe and returns the server's and
// the client's error, and the certificate the server verified.
func handshake(t *testing.T, srv, cli *tls.Config) (got *x509.Certificate, serr, cerr error) {
	t.Helper()
	a, b := tcpPair(t)
	defer a.Close()
	defer b.Close()
	_ = a.SetDeadline(time.Now().Add(5 * time.Second))
	_ = b.SetDeadline(time.Now().Add(5 * time.Second))
	done := make(chan struct{})
	s := tls.Server(a, srv)
	go func() {
		defer close(done)
		serr = s.Handshake()
		if serr != nil {
			a.Close()
		} else if cs := s.ConnectionState(); len(cs.VerifiedChains) > 0 {
			got = cs.VerifiedChains[0][0]
		}
	}()
	c := tls.Client(b, cli)
	cerr = c.Handshake()
	if cerr == nil {
		// TLS 1.3: the server's verdict on the client certificate arrives
		// after the client's handshake; a read surfaces it.
		_ = b.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, rerr := c.Read(make([]byte, 1))
		if rerr != nil && !isTimeout(rerr) {
			cerr = rerr
		}
	}
	b.Close()
	<-done
	return got, serr, cerr
}

// tcpPair returns the two ends of a loopback TCP connection (buffered,
// unlike net.Pipe, so a refused handshake does not block on a write).
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		ch <- c
	}()
	b, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a == nil {
		t.Fatal("accept failed")
	}
	return a, b
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, "ns-ca")
	other := certtest.NewCA(t, "other-ca")
	node := certtest.Write(t, dir, "node-", ca.Issue(t, certtest.Leaf{CommonName: "n1", DNS: []string{"ns-peer"}}), ca)
	node2 := certtest.Write(t, dir, "node2-", ca.Issue(t, certtest.Leaf{CommonName: "n2", OU: []string{"ns-peer"}}), ca)
	cli := certtest.Write(t, dir, "cli-", ca.Issue(t, certtest.Leaf{CommonName: "app", DNS: []string{"app.example"}}), ca)
	foreign := certtest.Write(t, dir, "foreign-", other.Issue(t, certtest.Leaf{CommonName: "evil", DNS: []string{"ns-peer"}}), ca)

	srv := store(t, node, "")
	caOnly, err := tlsutil.New(tlsutil.Config{CAFile: node.CA})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		server     *tls.Config
		client     *tls.Config
		wantErr    bool
		wantClient string
	}{
		{"peer to peer", srv.ServerConfig(true), store(t, node2, "").ClientConfig(), false, "n2"},
		{"client cert", srv.ServerConfig(true), store(t, cli, "").ClientConfig(), false, "app"},
		{"no client cert refused", srv.ServerConfig(true), &tls.Config{InsecureSkipVerify: true}, true, ""},
		{"no client cert allowed when optional", srv.ServerConfig(false), &tls.Config{InsecureSkipVerify: true}, false, ""},
		{"CA-only dialer allowed when optional", srv.ServerConfig(false), caOnly.ClientConfig(), false, ""},
		{"CA-only dialer refused when required", srv.ServerConfig(true), caOnly.ClientConfig(), true, ""},
		{"other CA refused", srv.ServerConfig(true), store(t, foreign, "").ClientConfig(), true, ""},
		{"other CA refused even when optional", srv.ServerConfig(false), store(t, foreign, "").ClientConfig(), true, ""},
		{"server without peer name refused", store(t, cli, "").ServerConfig(true), store(t, node, "").ClientConfig(), true, ""},
		{"server name checked", srv.ServerConfig(true), store(t, cli, "127.0.0.1").ClientConfig(), false, "app"},
		{"wrong server name refused", srv.ServerConfig(true), store(t, cli, "db.example").ClientConfig(), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, serr, cerr := handshake(t, tc.server, tc.client)
			if tc.wantErr {
				if serr == nil && cerr == nil {
					t.Fatal("handshake succeeded, want a refusal")
				}
				return
			}
			if serr != nil || cerr != nil {
				t.Fatalf("server err %v, client err %v", serr, cerr)
			}
			if tc.wantClient != "" && (got == nil || got.Subject.CommonName != tc.wantClient) {
				t.Fatalf("server verified %v, want %s", got, tc.wantClient)
			}
		})
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, "ns-ca")
	ca2 := certtest.NewCA(t, "ns-ca-2")
	f := certtest.Write(t, dir, "", ca.Issue(t, certtest.Leaf{CommonName: "v1", DNS: []string{"ns-peer"}}), ca)
	s := store(t, f, "")
	if got := s.Leaf().Subject.CommonName; got != "v1" {
		t.Fatalf("leaf %s, want v1", got)
	}

	// A new certificate is served on the next handshake.
	certtest.Write(t, dir, "", ca.Issue(t, certtest.Leaf{CommonName: "v2", DNS: []string{"ns-peer"}}), ca)
	if got := s.Leaf().Subject.CommonName; got != "v2" {
		t.Fatalf("after rewrite leaf %s, want v2", got)
	}
	if s.Reloads() != 1 {
		t.Fatalf("reloads %d, want 1", s.Reloads())
	}

	// A certificate without its key (half a rotation) keeps the old pair.
	p3 := ca.Issue(t, certtest.Leaf{CommonName: "v3", DNS: []string{"ns-peer"}})
	certtest.WriteFile(t, f.Cert, p3.CertPEM)
	if got := s.Leaf().Subject.CommonName; got != "v2" {
		t.Fatalf("with a mismatched key leaf %s, want v2 kept", got)
	}
	certtest.WriteFile(t, f.Key, p3.KeyPEM)
	if got := s.Leaf().Subject.CommonName; got != "v3" {
		t.Fatalf("once the key is written leaf %s, want v3", got)
	}

	// CA rotation: a client of the new CA is refused until the bundle has it.
	cli := certtest.Write(t, dir, "cli-", ca2.Issue(t, certtest.Leaf{CommonName: "app"}), ca2, ca)
	if _, serr, cerr := handshake(t, s.ServerConfig(true), store(t, cli, "").ClientConfig()); serr == nil && cerr == nil {
		t.Fatal("client of an unknown CA accepted")
	}
	certtest.WriteFile(t, f.CA, append(append([]byte{}, ca.PEM...), ca2.PEM...))
	if _, serr, cerr := handshake(t, s.ServerConfig(true), store(t, cli, "").ClientConfig()); serr != nil || cerr != nil {
		t.Fatalf("after the CA bundle update: server %v client %v", serr, cerr)
	}

	// A deleted file keeps the material too.
	if err := os.Remove(f.Key); err != nil {
		t.Fatal(err)
	}
	if got := s.Leaf().Subject.CommonName; got != "v3" {
		t.Fatalf("with the key gone leaf %s, want v3 kept", got)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, "ns-ca")
	f := certtest.Write(t, dir, "", ca.Issue(t, certtest.Leaf{CommonName: "n"}), ca)
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  tlsutil.Config
		want error
	}{
		{"missing ca", tlsutil.Config{CertFile: f.Cert, KeyFile: f.Key}, tlsutil.ErrConfig},
		{"missing key", tlsutil.Config{CAFile: f.CA, CertFile: f.Cert}, tlsutil.ErrConfig},
		{"key without cert", tlsutil.Config{CAFile: f.CA, KeyFile: f.Key}, tlsutil.ErrConfig},
		{"absent file", tlsutil.Config{CAFile: f.CA + ".nope", CertFile: f.Cert, KeyFile: f.Key}, tlsutil.ErrLoad},
		{"bad ca", tlsutil.Config{CAFile: bad, CertFile: f.Cert, KeyFile: f.Key}, tlsutil.ErrLoad},
		{"bad cert", tlsutil.Config{CAFile: f.CA, CertFile: bad, KeyFile: f.Key}, tlsutil.ErrLoad},
		{"swapped", tlsutil.Config{CAFile: f.CA, CertFile: f.Key, KeyFile: f.Cert}, tlsutil.ErrLoad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlsutil.New(tc.cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHasName(t *testing.T) {
	u, _ := url.Parse("spiffe://ns-peer/node/1")
	u2, _ := url.Parse("urn:ns-peer")
	for _, tc := range []struct {
		name string
		cert *x509.Certificate
		want bool
	}{
		{"dns", &x509.Certificate{DNSNames: []string{"a", "ns-peer"}}, true},
		{"ou", func() *x509.Certificate {
			c := &x509.Certificate{}
			c.Subject.OrganizationalUnit = []string{"ns-peer"}
			return c
		}(), true},
		{"uri host", &x509.Certificate{URIs: []*url.URL{u}}, true},
		{"uri whole", &x509.Certificate{URIs: []*url.URL{u2}}, false},
		{"cn does not count", func() *x509.Certificate { c := &x509.Certificate{}; c.Subject.CommonName = "ns-peer"; return c }(), false},
		{"prefix does not count", &x509.Certificate{DNSNames: []string{"ns-peer.evil"}}, false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tlsutil.HasName(tc.cert, "ns-peer"); got != tc.want {
				t.Fatalf("HasName = %v, want %v", got, tc.want)
			}
		})
	}
	if !tlsutil.HasName(&x509.Certificate{URIs: []*url.URL{u2}}, "urn:ns-peer") {
		t.Fatal("whole URI not matched")
	}
	if !strings.HasPrefix(tlsutil.DefaultPeerName, "ns-") {
		t.Fatal("default peer name changed")
	}
}
