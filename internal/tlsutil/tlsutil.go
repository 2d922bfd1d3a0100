// Package tlsutil loads the certificates of ns nodes and clients from PEM
// files and reloads them when the files change, without a restart.
//
// A Store holds a CA bundle, a certificate and its key. Every TLS handshake
// asks the Store for its material; the Store stats the three files (cheap)
// and re-reads them when one changed (modification time, size or inode, so
// a Kubernetes Secret's atomic symlink swap counts). A reload that fails (a
// certificate written before its key, a bad file) keeps the last good
// material and is retried when the files change again.
//
// Identity: every node certificate carries the peer name (DefaultPeerName,
// "ns-peer", unless configured otherwise) as a DNS SAN, a URI SAN or an
// organizational unit. Nodes are reached at the addresses of the partition
// table (pod IPs), which certificates rarely name, so a dialer verifies that
// the server's certificate chains to the CA and carries the peer name rather
// than checking the host name, unless Config.ServerName asks for a host
// name check.
package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPeerName is the name node certificates carry (DNS SAN, URI SAN or
// OU) when Config.PeerName is empty.
const DefaultPeerName = "ns-peer"

// Errors returned by New and the handshake callbacks.
var (
	// ErrConfig is returned by New for missing files in the Config.
	ErrConfig = errors.New("tlsutil: invalid config")
	// ErrLoad wraps a failure to read or parse the PEM files.
	ErrLoad = errors.New("tlsutil: cannot load certificates")
	// ErrNotPeer is returned when a certificate does not carry the peer name.
	ErrNotPeer = errors.New("tlsutil: certificate does not carry the peer name")
)

// Config names the PEM files of a Store.
type Config struct {
	// CAFile holds the CA certificates (a bundle: several may be listed,
	// e.g. the old and the new CA during a rotation) that verify the other
	// side. Required.
	CAFile string
	// CertFile holds this side's certificate (and any intermediates),
	// leaf first. Required for a server; a dialer without one presents no
	// certificate (it then authenticates with a token).
	CertFile string
	// KeyFile holds the private key of CertFile; required with CertFile.
	KeyFile string
	// PeerName is the name node certificates carry; "" means
	// DefaultPeerName.
	PeerName string
	// ServerName, for a dialer, is the host name the server certificate must
	// be valid for; "" means: check that it carries PeerName instead.
	ServerName string
	// Logger receives reload events; nil discards them.
	Logger *slog.Logger
}

// material is one consistent set of loaded files.
type material struct {
	cert   *tls.Certificate
	leaf   *x509.Certificate
	pool   *x509.CertPool
	stamps [3]stamp // CAFile, CertFile, KeyFile when loaded
}

// stamp identifies a version of a file.
type stamp struct {
	fi    os.FileInfo
	mtime time.Time
	size  int64
}

func (s stamp) same(o stamp) bool {
	if s.fi == nil || o.fi == nil {
		return s.fi == nil && o.fi == nil
	}
	return s.mtime.Equal(o.mtime) && s.size == o.size && os.SameFile(s.fi, o.fi)
}

// Store holds reloadable TLS material. It is safe for concurrent use.
type Store struct {
	cfg Config
	log *slog.Logger
	cur atomic.Pointer[material]

	reloadMu sync.Mutex // serialises reloads; guards failed
	failed   [3]stamp   // the stamps of the last failed reload, not retried
	reloads  atomic.Uint64
}

// New loads the files named by cfg; it fails when they are missing or do
// not parse, so a bad configuration stops a node at start-up.
func New(cfg Config) (*Store, error) {
	if cfg.CAFile == "" || (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, fmt.Errorf("%w: a CA file is required, and a certificate needs its key (--tls-ca, --tls-cert, --tls-key)", ErrConfig)
	}
	if cfg.PeerName == "" {
		cfg.PeerName = DefaultPeerName
	}
	s := &Store{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	m, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cur.Store(m)
	return s, nil
}

// PeerName returns the peer name in force.
func (s *Store) PeerName() string { return s.cfg.PeerName }

// Reloads counts the successful reloads since New.
func (s *Store) Reloads() uint64 { return s.reloads.Load() }

// Leaf returns the current certificate, parsed (for its expiry, names);
// nil without a certificate.
func (s *Store) Leaf() *x509.Certificate { return s.current().leaf }

func (s *Store) files() [3]string { return [3]string{s.cfg.CAFile, s.cfg.CertFile, s.cfg.KeyFile} }

// HasCert reports whether the Store has a certificate of its own (a dialer
// may have only a CA).
func (s *Store) HasCert() bool { return s.cfg.CertFile != "" }

func statAll(files [3]string) [3]stamp {
	var out [3]stamp
	for i, f := range files {
		if fi, err := os.Stat(f); err == nil {
			out[i] = stamp{fi: fi, mtime: fi.ModTime(), size: fi.Size()}
		}
	}
	return out
}

func sameStamps(a, b [3]stamp) bool {
	for i := range a {
		if !a[i].same(b[i]) {
			return false
		}
	}
	return true
}

// load reads and parses the three files.
func (s *Store) load() (*material, error) {
	st := statAll(s.files())
	caPEM, err := os.ReadFile(s.cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("%w: CA: %v", ErrLoad, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrLoad, s.cfg.CAFile)
	}
	if s.cfg.CertFile == "" {
		return &material{cert: &tls.Certificate{}, pool: pool, stamps: st}, nil
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s / key %s: %v", ErrLoad, s.cfg.CertFile, s.cfg.KeyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: certificate %s: %v", ErrLoad, s.cfg.CertFile, err)
		}
		cert.Leaf = leaf
	}
	return &material{cert: &cert, leaf: leaf, pool: pool, stamps: st}, nil
}

// current returns the material, reloading it first when a file changed.
func (s *Store) current() *material {
	m := s.cur.Load()
	st := statAll(s.files())
	if sameStamps(st, m.stamps) {
		return m
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if m = s.cur.Load(); sameStamps(st, m.stamps) || sameStamps(st, s.failed) {
		return m
	}
	nm, err := s.load()
	if err != nil {
		s.failed = st
		s.log.Warn("tls: files changed but cannot be loaded; keeping the previous certificates", "err", err)
		return m
	}
	s.failed = [3]stamp{}
	s.cur.Store(nm)
	s.reloads.Add(1)
	if nm.leaf != nil {
		s.log.Info("tls: certificates reloaded", "subject", nm.leaf.Subject.String(), "not_after", nm.leaf.NotAfter)
	}
	return nm
}

// ServerConfig returns the tls.Config of a server: it presents the current
// certificate and verifies client certificates against the current CA.
// With requireClientCert a client without a valid certificate is refused
// during the handshake; without it a client may present none (token
// authentication then decides), but one it presents must be valid.
func (s *Store) ServerConfig(requireClientCert bool) *tls.Config {
	auth := tls.VerifyClientCertIfGiven
	if requireClientCert {
		auth = tls.RequireAndVerifyClientCert
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := s.current()
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{*m.cert},
				ClientCAs:    m.pool,
				ClientAuth:   auth,
			}, nil
		},
	}
}

// ClientConfig returns the tls.Config of a dialer: it presents the current
// certificate and verifies the server's against the current CA, then checks
// that it carries the peer name (or Config.ServerName when set).
func (s *Store) ClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The standard verification cannot follow a reloaded CA, and nodes
		// are dialled at IPs their certificates need not name:
		// VerifyConnection does the whole verification instead.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.current().cert, nil
		},
		VerifyConnection: s.verifyServer,
	}
}

func (s *Store) verifyServer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tlsutil: server presented no certificate")
	}
	m := s.current()
	opts := x509.VerifyOptions{
		Roots:         m.pool,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("tlsutil: server certificate: %w", err)
	}
	if s.cfg.ServerName != "" {
		return leaf.VerifyHostname(s.cfg.ServerName)
	}
	if !HasName(leaf, s.cfg.PeerName) {
		return fmt.Errorf("%w %q: server certificate %q is not a node's (set a server name to check a host name instead)", ErrNotPeer, s.cfg.PeerName, leaf.Subject.String())
	}
	return nil
}

// HasName reports whether cert carries name as a DNS SAN, a URI SAN (the
// whole URI or its host) or an organizational unit of its subject.
func HasName(cert *x509.Certificate, name string) bool {
	if cert == nil || name == "" {
		return false
	}
	if slices.Contains(cert.DNSNames, name) || slices.Contains(cert.Subject.OrganizationalUnit, name) {
		return true
	}
	for _, u := range cert.URIs {
		if u.String() == name || u.Host == name {
			return true
		}
	}
	return false
}
