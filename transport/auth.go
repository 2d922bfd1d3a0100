package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/internal/tlsutil"
	"github.com/nothingshared/ns/wire"
)

// PeerServicePrefix starts the full method name of every PeerService RPC.
const PeerServicePrefix = "/ns.v1.PeerService/"

// healthPrefix starts the grpc.health.v1 methods, open to every caller so
// that probes need no credentials (they reveal only serving or not).
const healthPrefix = "/grpc.health.v1.Health/"

// AuthConfig says who may call a Server. The zero value lets every caller
// in (plaintext, no token: for loopback and trusted networks).
type AuthConfig struct {
	// PeerName, when set, restricts PeerService (Forward, Handoff,
	// Replicate) to callers that presented a verified TLS certificate
	// carrying this name (a DNS SAN, URI SAN or OU: tlsutil.HasName). Set
	// it whenever the server uses TLS.
	PeerName string
	// Tokens, when set, requires a bearer token listed in the file from
	// every caller of the public API that did not present a verified client
	// certificate, and from PeerService callers when PeerName is empty (no
	// TLS). grpc.health.v1 stays open.
	Tokens *TokenFile
}

// Authorizer checks every call against an AuthConfig. It is safe for
// concurrent use.
type Authorizer struct {
	cfg     AuthConfig
	denied  atomic.Uint64
	peerMsg string
}

// NewAuthorizer returns an Authorizer for cfg.
func NewAuthorizer(cfg AuthConfig) *Authorizer {
	return &Authorizer{cfg: cfg, peerMsg: fmt.Sprintf("ns: PeerService is for nodes: the caller's certificate does not carry the peer name %q (--tls-peer-name)", cfg.PeerName)}
}

// Denied counts the calls refused so far.
func (a *Authorizer) Denied() uint64 { return a.denied.Load() }

// ServerOptions returns the interceptors that enforce the config.
func (a *Authorizer) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := a.Authorize(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := a.Authorize(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
}

// Authorize returns nil when the caller of ctx may call method (a full
// method name, "/pkg.Service/Method"), otherwise a status error:
// PermissionDenied for a PeerService call without a peer certificate,
// Unauthenticated for a missing or unknown token.
func (a *Authorizer) Authorize(ctx context.Context, method string) error {
	if strings.HasPrefix(method, healthPrefix) {
		return nil
	}
	cert := verifiedCert(ctx)
	if strings.HasPrefix(method, PeerServicePrefix) {
		switch {
		case a.cfg.PeerName != "":
			if !tlsutil.HasName(cert, a.cfg.PeerName) {
				a.denied.Add(1)
				return status.Error(codes.PermissionDenied, a.peerMsg)
			}
			return nil
		case a.cfg.Tokens != nil:
			return a.checkToken(ctx)
		default:
			return nil
		}
	}
	if a.cfg.Tokens == nil || cert != nil {
		return nil
	}
	return a.checkToken(ctx)
}

func (a *Authorizer) checkToken(ctx context.Context) error {
	tok, ok := bearer(ctx)
	if !ok {
		a.denied.Add(1)
		return status.Error(codes.Unauthenticated, "ns: this node needs a bearer token (authorization: Bearer <token>; nsctl --token-file) or a client certificate")
	}
	if !a.cfg.Tokens.Valid(tok) {
		a.denied.Add(1)
		return status.Error(codes.Unauthenticated, "ns: invalid bearer token")
	}
	return nil
}

// verifiedCert returns the caller's verified TLS leaf certificate, nil when
// it presented none or the connection is not TLS.
func verifiedCert(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return ti.State.VerifiedChains[0][0]
}

// bearer returns the token of the call's "authorization: Bearer" header.
func bearer(ctx context.Context) (string, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get(wire.AuthorizationHeader) {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return strings.TrimSpace(v[7:]), true
		}
	}
	return "", false
}

// ---- tokens ----

// MaxTokenBytes bounds one token.
const MaxTokenBytes = 4096

// ErrBadTokenFile is returned for a token file that cannot be used.
var ErrBadTokenFile = errors.New("transport: bad token file")

// TokenFile is a file of bearer tokens, one per line; blank lines and lines
// starting with # are ignored. Any listed token is accepted, so a token is
// rotated by listing the new one next to the old, moving the clients, then
// removing the old. The file is re-read when it changes (checked at most
// once a second, on a call). It is safe for concurrent use.
type TokenFile struct {
	path       string
	checkEvery time.Duration

	cur       atomic.Pointer[tokenSet]
	lastCheck atomic.Int64 // unix nanos
	mu        sync.Mutex   // serialises reloads
}

type tokenSet struct {
	hashes [][sha256.Size]byte
	first  string
	mtime  time.Time
	size   int64
}

// LoadTokenFile reads the tokens of path; it fails when the file is missing
// or lists no valid token.
func LoadTokenFile(path string) (*TokenFile, error) {
	f := &TokenFile{path: path, checkEvery: time.Second}
	ts, err := f.read()
	if err != nil {
		return nil, err
	}
	f.cur.Store(ts)
	f.lastCheck.Store(time.Now().UnixNano())
	return f, nil
}

func (f *TokenFile) read() (*tokenSet, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadTokenFile, err)
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadTokenFile, err)
	}
	toks, err := ParseTokens(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadTokenFile, f.path, err)
	}
	ts := &tokenSet{first: toks[0], mtime: fi.ModTime(), size: fi.Size()}
	for _, t := range toks {
		ts.hashes = append(ts.hashes, sha256.Sum256([]byte(t)))
	}
	return ts, nil
}

// ParseTokens parses the contents of a token file: one token per line,
// blank lines and # comments ignored. A token is at most MaxTokenBytes of
// printable ASCII without spaces. It returns at least one token or an error.
func ParseTokens(b []byte) ([]string, error) {
	var out []string
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if len(line) > MaxTokenBytes {
			return nil, fmt.Errorf("line %d: token longer than %d bytes", i+1, MaxTokenBytes)
		}
		for _, c := range line {
			if c <= ' ' || c > '~' {
				return nil, fmt.Errorf("line %d: a token is printable ASCII without spaces", i+1)
			}
		}
		out = append(out, string(line))
	}
	if len(out) == 0 {
		return nil, errors.New("no token")
	}
	return out, nil
}

// current returns the token set, re-reading the file when it changed. A
// file that became unreadable or empty keeps the previous tokens.
func (f *TokenFile) current() *tokenSet {
	ts := f.cur.Load()
	now := time.Now().UnixNano()
	last := f.lastCheck.Load()
	if now-last < int64(f.checkEvery) || !f.lastCheck.CompareAndSwap(last, now) {
		return ts
	}
	fi, err := os.Stat(f.path)
	if err != nil || (fi.ModTime().Equal(ts.mtime) && fi.Size() == ts.size) {
		return ts
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	nts, err := f.read()
	if err != nil {
		return ts
	}
	f.cur.Store(nts)
	return nts
}

// Valid reports whether tok is one of the file's tokens, in time that does
// not depend on where tok and a listed token differ.
func (f *TokenFile) Valid(tok string) bool {
	h := sha256.Sum256([]byte(tok))
	ok := 0
	for _, want := range f.current().hashes {
		ok |= subtle.ConstantTimeCompare(h[:], want[:])
	}
	return ok == 1
}

// Token returns the file's first token: the one a node presents to its
// peers when there is no TLS.
func (f *TokenFile) Token() string { return f.current().first }

// Credentials returns per-call credentials that present the file's first
// token, following the file as it changes.
func (f *TokenFile) Credentials() credentials.PerRPCCredentials {
	return wire.TokenSourceCredentials(f.Token)
}

// TokenCredentials is wire.TokenCredentials: per-call credentials presenting
// token as "authorization: Bearer <token>", over plaintext connections too.
func TokenCredentials(token string) credentials.PerRPCCredentials {
	return wire.TokenCredentials(token)
}
