package client

import (
	"crypto/tls"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nothingshared/ns/internal/tlsutil"
	"github.com/nothingshared/ns/wire"
)

// Security holds the credentials a Client presents to nodes started with
// --tls-* or --auth-token-file. Pass its DialOptions as Config.DialOptions:
//
//	opts, err := client.Security{CAFile: "ca.crt", CertFile: "tls.crt", KeyFile: "tls.key"}.DialOptions()
//	c, err := client.New(ctx, client.Config{Endpoints: eps, DialOptions: opts})
//
// The zero value is plaintext without a token.
type Security struct {
	// CAFile, CertFile and KeyFile are PEM files: the CA that signed the
	// nodes' certificates, and this client's certificate and key. With
	// CAFile every connection is TLS; CertFile and KeyFile go together and
	// may be left out when the nodes accept a Token instead. The files are
	// re-read when they change.
	CAFile, CertFile, KeyFile string
	// ServerName, when set, is the host name node certificates must be
	// valid for. "" means: check that they carry PeerName, since nodes are
	// reached at the addresses of the partition table (often pod IPs).
	ServerName string
	// PeerName is the name node certificates carry; "" means
	// tlsutil.DefaultPeerName ("ns-peer").
	PeerName string
	// Token is a bearer token, sent with every call. Without TLS it
	// crosses the network in the clear.
	Token string
}

// DialOptions returns the gRPC dial options for s: TLS credentials (or
// plaintext) and the token. The result always sets transport credentials,
// as Config.DialOptions requires.
func (s Security) DialOptions() ([]grpc.DialOption, error) {
	var opts []grpc.DialOption
	if s.CAFile != "" || s.CertFile != "" || s.KeyFile != "" {
		cfg, err := s.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if s.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(wire.TokenCredentials(s.Token)))
	}
	return opts, nil
}

func (s Security) tlsConfig() (*tls.Config, error) {
	st, err := tlsutil.New(tlsutil.Config{CAFile: s.CAFile, CertFile: s.CertFile, KeyFile: s.KeyFile,
		ServerName: s.ServerName, PeerName: s.PeerName})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return st.ClientConfig(), nil
}

// TLSConfig returns a tls.Config for dialing nodes with the client
// certificate in certFile and keyFile, verifying node certificates against
// caFile and checking that they carry the peer name "ns-peer". The files
// are re-read when they change. Use it with credentials.NewTLS.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	return Security{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}.tlsConfig()
}
