package main

import (
	"context"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/nothingshared/ns/client"
	"github.com/nothingshared/ns/cluster"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/transport"
)

// securityFlags are the global TLS and token flags.
type securityFlags struct {
	ca, cert, key, serverName, peerName, tokenFile string

	dialOpts []grpc.DialOption // built by load
}

func (s *securityFlags) register(pf *pflag.FlagSet) {
	pf.StringVar(&s.ca, "tls-ca", "", "CA (PEM) that signed the nodes' certificates; turns TLS on (env NSCTL_TLS_CA)")
	pf.StringVar(&s.cert, "tls-cert", "", "client certificate (PEM) (env NSCTL_TLS_CERT)")
	pf.StringVar(&s.key, "tls-key", "", "client private key (PEM) (env NSCTL_TLS_KEY)")
	pf.StringVar(&s.serverName, "tls-server-name", "", "host name node certificates must be valid for; empty: check the peer name instead (env NSCTL_TLS_SERVER_NAME)")
	pf.StringVar(&s.peerName, "tls-peer-name", "", "name node certificates carry (default ns-peer)")
	pf.StringVar(&s.tokenFile, "token-file", "", "file whose first token is sent as a bearer token (env NSCTL_TOKEN_FILE; NSCTL_TOKEN holds the token itself)")
}

// load builds the dial options; NSCTL_TOKEN is used when --token-file is not.
func (s *securityFlags) load(getenv func(string) string) error {
	sec := client.Security{CAFile: s.ca, CertFile: s.cert, KeyFile: s.key, ServerName: s.serverName, PeerName: s.peerName}
	if (s.cert != "" || s.key != "") && s.ca == "" {
		return usagef("--tls-cert and --tls-key need --tls-ca")
	}
	switch {
	case s.tokenFile != "":
		b, err := os.ReadFile(s.tokenFile)
		if err != nil {
			return usagef("--token-file: %v", err)
		}
		toks, err := transport.ParseTokens(b)
		if err != nil {
			return usagef("--token-file %s: %v", s.tokenFile, err)
		}
		sec.Token = toks[0]
	case getenv("NSCTL_TOKEN") != "":
		sec.Token = strings.TrimSpace(getenv("NSCTL_TOKEN"))
	}
	if sec == (client.Security{}) {
		return nil // plaintext, the client's default
	}
	opts, err := sec.DialOptions()
	if err != nil {
		return usagef("%v", err)
	}
	s.dialOpts = opts
	return nil
}

// keyringView is one node's answer to a gossip-key command.
type keyringView struct {
	Node    string   `json:"node"`
	Addr    string   `json:"addr"`
	Primary string   `json:"primary,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	Error   string   `json:"error,omitempty"`
}

func (a *app) gossipKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gossip-key",
		Short: "List and rotate the gossip encryption keys of every node",
		Long: `gossip-key manages the gossip encryption keyring (memberlist, AES-GCM) of
every member of the cluster; nodes must run with --gossip-key-file.

Rotate a key with no downtime, each step on every node before the next:

  nsctl gossip-key install NEWKEY   # every node accepts gossip under NEWKEY
  nsctl gossip-key use NEWKEY       # every node sends under NEWKEY
  nsctl gossip-key remove OLDKEY    # OLDKEY is no longer accepted

then put NEWKEY in every node's --gossip-key-file (a restarted node reads
it). KEY is base64 (16, 24 or 32 bytes, as in the key file) or @FILE for a
key file's first key. Keys travel to the nodes only over TLS or loopback;
list shows fingerprints (first 8 bytes of the SHA-256), never keys.
A failure on any node exits 1; the other nodes keep the change.`,
		Example: `  nsctl gossip-key list
  nsctl gossip-key install "$(head -c32 /dev/urandom | base64)"
  nsctl gossip-key use @new-gossip.key`,
	}
	cmd.AddCommand(a.gossipKeyOp("list", "Show every node's key fingerprints", nil),
		a.gossipKeyOp("install", "Install KEY on every node", func(ctx context.Context, g nsv1.GossipKeyServiceClient, k []byte) (*nsv1.GossipKeyring, error) {
			r, err := g.InstallGossipKey(ctx, &nsv1.InstallGossipKeyRequest{Key: k})
			return r.GetKeyring(), err
		}),
		a.gossipKeyOp("use", "Make KEY the primary key on every node", func(ctx context.Context, g nsv1.GossipKeyServiceClient, k []byte) (*nsv1.GossipKeyring, error) {
			r, err := g.UseGossipKey(ctx, &nsv1.UseGossipKeyRequest{Key: k})
			return r.GetKeyring(), err
		}),
		a.gossipKeyOp("remove", "Remove KEY from every node", func(ctx context.Context, g nsv1.GossipKeyServiceClient, k []byte) (*nsv1.GossipKeyring, error) {
			r, err := g.RemoveGossipKey(ctx, &nsv1.RemoveGossipKeyRequest{Key: k})
			return r.GetKeyring(), err
		}))
	return cmd
}

// gossipKeyOp builds one gossip-key subcommand; op nil is list.
func (a *app) gossipKeyOp(name, short string, op func(context.Context, nsv1.GossipKeyServiceClient, []byte) (*nsv1.GossipKeyring, error)) *cobra.Command {
	use, args := name, exactArgs()
	if op != nil {
		use, args = name+" KEY", exactArgs("KEY")
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			var key []byte
			if op != nil {
				k, err := parseKeyArg(args[0])
				if err != nil {
					return err
				}
				key = k
			}
			ctx := cmd.Context()
			c, err := a.connect(ctx, false)
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := a.members(ctx, c)
			if err != nil {
				return err
			}
			var views []keyringView
			failed := 0
			for _, m := range resp.GetMembers() {
				if m.GetState() != nsv1.MemberState_MEMBER_STATE_ALIVE && m.GetState() != nsv1.MemberState_MEMBER_STATE_SUSPECT {
					continue
				}
				v := keyringView{Node: m.GetId(), Addr: m.GetGrpcAddr()}
				kr, err := a.keyringCall(ctx, c, m.GetGrpcAddr(), key, op)
				if err != nil {
					failed++
					v.Error = rpcError(m.GetGrpcAddr(), err).Error()
				} else {
					v.Primary, v.Keys = kr.GetPrimary(), kr.GetKeys()
				}
				views = append(views, v)
			}
			if err := render(a.stdout, a.output, views, func(tw *tabwriter.Writer, _ bool) {
				row(tw, "NODE", "ADDR", "PRIMARY", "KEYS", "ERROR")
				for _, v := range views {
					row(tw, v.Node, v.Addr, dash(v.Primary), dash(strings.Join(v.Keys, ",")), dash(v.Error))
				}
			}); err != nil {
				return err
			}
			if failed > 0 {
				return failf("gossip-key %s failed on %d of %d nodes", name, failed, len(views))
			}
			return nil
		},
	}
}

func (a *app) keyringCall(ctx context.Context, c *client.Client, addr string, key []byte, op func(context.Context, nsv1.GossipKeyServiceClient, []byte) (*nsv1.GossipKeyring, error)) (*nsv1.GossipKeyring, error) {
	cc, err := c.Conn(addr)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	g := nsv1.NewGossipKeyServiceClient(cc)
	if op == nil {
		r, err := g.ListGossipKeys(rctx, &nsv1.ListGossipKeysRequest{})
		return r.GetKeyring(), err
	}
	return op(rctx, g, key)
}

// parseKeyArg reads KEY: base64, or @FILE (a key file's first key).
func parseKeyArg(arg string) ([]byte, error) {
	if strings.HasPrefix(arg, "@") && len(arg) > 1 {
		keys, err := cluster.ReadKeyFile(arg[1:])
		if err != nil {
			return nil, usagef("KEY %s: %v", arg, err)
		}
		return keys[0], nil
	}
	keys, err := cluster.ParseKeys([]byte(arg))
	if err != nil || len(keys) != 1 {
		return nil, usagef("KEY: want base64 of 16, 24 or 32 bytes, or @FILE: %v", err)
	}
	return keys[0], nil
}
