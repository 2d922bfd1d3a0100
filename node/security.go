package node

import (
	"context"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/cluster"
	"github.com/nothingshared/ns/internal/tlsutil"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/transport"
)

// SecurityConfig configures who may talk to a node: TLS for gRPC (clients
// and peers), bearer tokens for the public API, and the gossip key file.
// The zero value is plaintext and open, for loopback and trusted networks.
// docs/security.md has the threat model and the rotation procedures.
type SecurityConfig struct {
	// TLSCAFile, TLSCertFile and TLSKeyFile are PEM files (--tls-ca,
	// --tls-cert, --tls-key): all three or none. With them every gRPC
	// connection, from clients and from peers, is TLS (no plaintext
	// fallback), clients must present a certificate signed by the CA
	// (unless AuthTokenFile is set: then a token will do), and the node
	// dials its peers with its own certificate. The files are re-read when
	// they change, without a restart.
	TLSCAFile, TLSCertFile, TLSKeyFile string
	// TLSPeerName is the name node certificates carry, as a DNS SAN, a URI
	// SAN (or its host) or an OU (--tls-peer-name). Only callers whose
	// certificate carries it may call PeerService (Forward, Handoff,
	// Replicate), and a node only talks to peers whose certificate carries
	// it. "" means tlsutil.DefaultPeerName, "ns-peer".
	TLSPeerName string
	// AuthTokenFile is a file of bearer tokens, one per line
	// (--auth-token-file). With it every public call needs one of them
	// (or, with TLS, a client certificate); without TLS peer calls need one
	// too, and the node presents the first to its peers. The file is
	// re-read when it changes. "" means no token authentication.
	AuthTokenFile string
	// GossipKeyFile is the gossip encryption key file (--gossip-key-file):
	// base64 keys of 16, 24 or 32 bytes, one per line, the first the
	// primary (cluster.ParseKeys). It sets Cluster.SecretKey, which must
	// then be empty, and installs the other keys. "" leaves gossip as
	// Cluster.SecretKey says.
	GossipKeyFile string
}

// TLSEnabled reports whether TLS files are configured.
func (s SecurityConfig) TLSEnabled() bool {
	return s.TLSCAFile != "" || s.TLSCertFile != "" || s.TLSKeyFile != ""
}

func (s SecurityConfig) validate() error {
	if s.TLSEnabled() && (s.TLSCAFile == "" || s.TLSCertFile == "" || s.TLSKeyFile == "") {
		return fmt.Errorf("%w: TLS needs all of --tls-ca, --tls-cert and --tls-key", ErrInvalidConfig)
	}
	return nil
}

// security is a node's loaded security material.
type security struct {
	tls        *tlsutil.Store       // nil without TLS
	tokens     *transport.TokenFile // nil without tokens
	auth       *transport.Authorizer
	gossipKeys [][]byte // from GossipKeyFile: the first is Cluster.SecretKey
}

// loadSecurity reads the files of cfg.Security and sets the gossip key of cc.
func (n *Node) loadSecurity(cc *cluster.Config) (*security, error) {
	sc := n.cfg.Security
	if err := sc.validate(); err != nil {
		return nil, err
	}
	s := &security{}
	var err error
	if sc.TLSEnabled() {
		s.tls, err = tlsutil.New(tlsutil.Config{CAFile: sc.TLSCAFile, CertFile: sc.TLSCertFile, KeyFile: sc.TLSKeyFile,
			PeerName: sc.TLSPeerName, Logger: n.log})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		if !tlsutil.HasName(s.tls.Leaf(), s.tls.PeerName()) {
			n.log.Warn("this node's certificate does not carry the peer name: peers will refuse it", "peer_name", s.tls.PeerName(), "subject", s.tls.Leaf().Subject.String())
		}
	}
	if sc.AuthTokenFile != "" {
		if s.tokens, err = transport.LoadTokenFile(sc.AuthTokenFile); err != nil {
			return nil, fmt.Errorf("%w: --auth-token-file: %v", ErrInvalidConfig, err)
		}
	}
	ac := transport.AuthConfig{Tokens: s.tokens}
	if s.tls != nil {
		ac.PeerName = s.tls.PeerName()
	}
	s.auth = transport.NewAuthorizer(ac)
	if sc.GossipKeyFile != "" {
		if len(cc.SecretKey) > 0 {
			return nil, fmt.Errorf("%w: both a gossip key file and Cluster.SecretKey are set", ErrInvalidConfig)
		}
		if s.gossipKeys, err = cluster.ReadKeyFile(sc.GossipKeyFile); err != nil {
			return nil, fmt.Errorf("%w: --gossip-key-file: %v", ErrInvalidConfig, err)
		}
		cc.SecretKey = s.gossipKeys[0]
	}
	n.log.Info("security", "tls", s.tls != nil, "tokens", s.tokens != nil, "gossip_encrypted", len(cc.SecretKey) > 0, "cluster_label", cc.Label)
	return s, nil
}

// installGossipKeys installs the key file's secondary keys once the
// keyring exists.
func (n *Node) installGossipKeys() error {
	for _, k := range n.sec.gossipKeys[min(1, len(n.sec.gossipKeys)):] {
		if err := n.members.InstallKey(k); err != nil {
			return fmt.Errorf("node: gossip key file: %w", err)
		}
	}
	return nil
}

// serverOptions returns the gRPC server options security asks for: TLS
// credentials and the authorization interceptors.
func (s *security) serverOptions() []grpc.ServerOption {
	var opts []grpc.ServerOption
	if s.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.tls.ServerConfig(s.tokens == nil))))
	}
	return append(opts, s.auth.ServerOptions()...)
}

// dialOptions returns the options a node dials its peers with: its own
// certificate, or its token without TLS.
func (s *security) dialOptions() []grpc.DialOption {
	switch {
	case s.tls != nil:
		return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(s.tls.ClientConfig()))}
	case s.tokens != nil:
		return []grpc.DialOption{grpc.WithPerRPCCredentials(s.tokens.Credentials())}
	}
	return nil
}

// ---- GossipKeyService ----

type gossipKeyService struct {
	nsv1.UnimplementedGossipKeyServiceServer
	n *Node
}

// registerGossipKeys registers GossipKeyService on the node's server.
func (n *Node) registerGossipKeys() {
	nsv1.RegisterGossipKeyServiceServer(n.server.GRPC(), &gossipKeyService{n: n})
}

func (g *gossipKeyService) keyring() *nsv1.GossipKeyring {
	primary, all := g.n.members.Keys()
	kr := &nsv1.GossipKeyring{NodeId: g.n.cfg.NodeID}
	if primary != nil {
		kr.Primary = cluster.KeyFingerprint(primary)
	}
	for _, k := range all {
		kr.Keys = append(kr.Keys, cluster.KeyFingerprint(k))
	}
	return kr
}

// keyStatus maps a keyring error to a status.
func keyStatus(err error) error {
	switch {
	case errors.Is(err, cluster.ErrNoEncryption):
		return status.Error(codes.FailedPrecondition, "ns: gossip encryption is off on this node (start it with --gossip-key-file)")
	case errors.Is(err, cluster.ErrBadKey):
		return status.Error(codes.InvalidArgument, "ns: "+err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// secureChannel refuses a call carrying a key over a connection an
// eavesdropper could read: plaintext from anywhere but loopback.
func secureChannel(ctx context.Context) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil // in-process
	}
	if _, isTLS := p.AuthInfo.(credentials.TLSInfo); isTLS {
		return nil
	}
	if ta, ok := p.Addr.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
		return nil
	}
	return status.Error(codes.FailedPrecondition, "ns: gossip keys travel only over TLS or loopback; configure --tls-* or run nsctl on the node")
}

func (g *gossipKeyService) ListGossipKeys(context.Context, *nsv1.ListGossipKeysRequest) (*nsv1.ListGossipKeysResponse, error) {
	if !g.n.members.Encrypted() {
		return nil, keyStatus(cluster.ErrNoEncryption)
	}
	return &nsv1.ListGossipKeysResponse{Keyring: g.keyring()}, nil
}

func (g *gossipKeyService) InstallGossipKey(ctx context.Context, req *nsv1.InstallGossipKeyRequest) (*nsv1.InstallGossipKeyResponse, error) {
	if err := secureChannel(ctx); err != nil {
		return nil, err
	}
	if err := g.n.members.InstallKey(req.GetKey()); err != nil {
		return nil, keyStatus(err)
	}
	return &nsv1.InstallGossipKeyResponse{Keyring: g.keyring()}, nil
}

func (g *gossipKeyService) UseGossipKey(ctx context.Context, req *nsv1.UseGossipKeyRequest) (*nsv1.UseGossipKeyResponse, error) {
	if err := secureChannel(ctx); err != nil {
		return nil, err
	}
	if err := g.n.members.UseKey(req.GetKey()); err != nil {
		return nil, keyStatus(err)
	}
	return &nsv1.UseGossipKeyResponse{Keyring: g.keyring()}, nil
}

func (g *gossipKeyService) RemoveGossipKey(ctx context.Context, req *nsv1.RemoveGossipKeyRequest) (*nsv1.RemoveGossipKeyResponse, error) {
	if err := secureChannel(ctx); err != nil {
		return nil, err
	}
	if err := g.n.members.RemoveKey(req.GetKey()); err != nil {
		return nil, keyStatus(err)
	}
	return &nsv1.RemoveGossipKeyResponse{Keyring: g.keyring()}, nil
}
