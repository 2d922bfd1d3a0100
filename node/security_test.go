package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	"github.com/nothingshared/ns/transport"
)

func dialWith(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	c, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tlsCreds(t *testing.T, f certtest.Files) grpc.DialOption {
	t.Helper()
	s, err := tlsutil.New(tlsutil.Config{CAFile: f.CA, CertFile: f.Cert, KeyFile: f.Key})
	if err != nil {
		t.Fatal(err)
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(s.ClientConfig()))
}

// keyOwnedBy returns a key whose partition node id owns.
func keyOwnedBy(t *testing.T, n *node.Node, id string) []byte {
	t.Helper()
	for i := 0; i < 10000; i++ {
		k := []byte(fmt.Sprintf("k%d", i))
		if n.Table().Owner(n.Table().PartitionOf(k)).ID == id {
			return k
		}
	}
	t.Fatalf("no key owned by %s", id)
	return nil
}

// TestMutualTLSCluster: two nodes with mTLS form a cluster and forward to
// each other; a client certificate reads and writes but cannot call peer
// RPCs; no certificate, another CA or plaintext are refused; gossip keys
// rotate through GossipKeyService over TLS.
func TestMutualTLSCluster(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, "ns-ca")
	other := certtest.NewCA(t, "other")
	nodeFiles := []certtest.Files{
		certtest.Write(t, dir, "n1-", ca.Issue(t, certtest.Leaf{CommonName: "n1", DNS: []string{"ns-peer", "n1.ns"}}), ca),
		certtest.Write(t, dir, "n2-", ca.Issue(t, certtest.Leaf{CommonName: "n2", OU: []string{"ns-peer"}}), ca),
	}
	app := certtest.Write(t, dir, "app-", ca.Issue(t, certtest.Leaf{CommonName: "app"}), ca)
	evil := certtest.Write(t, dir, "evil-", other.Issue(t, certtest.Leaf{CommonName: "evil", DNS: []string{"ns-peer"}}), other)
	keyFile := filepath.Join(dir, "gossip.key")
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16)
	if err := os.WriteFile(keyFile, []byte(cluster.EncodeKey(oldKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	c := clustertest.Start(t, clustertest.Config{Nodes: 2, Modify: func(i int, cfg *node.Config) {
		cfg.Security = node.SecurityConfig{TLSCAFile: nodeFiles[i].CA, TLSCertFile: nodeFiles[i].Cert, TLSKeyFile: nodeFiles[i].Key,
			GossipKeyFile: keyFile}
		cfg.Cluster.Label = "test-cluster"
	}})
	n1 := c.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	appConn := dialWith(t, n1.GRPCAddr(), tlsCreds(t, app))
	kv := nsv1.NewKVServiceClient(appConn)
	k := keyOwnedBy(t, n1, "n2") // n1 forwards it to n2 over mTLS
	if _, err := kv.Put(ctx, &nsv1.PutRequest{Key: k, Value: []byte("v")}); err != nil {
		t.Fatalf("put through a forward: %v", err)
	}
	if got, err := kv.Get(ctx, &nsv1.GetRequest{Key: k}); err != nil || string(got.GetValue()) != "v" {
		t.Fatalf("get: %v %v", got, err)
	}
	_, err := nsv1.NewPeerServiceClient(appConn).Forward(ctx, &nsv1.ForwardRequest{Items: []*nsv1.Item{{Service: "kv", Key: k}}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("client certificate calling Forward: %v, want PermissionDenied", err)
	}
	_, err = nsv1.NewPeerServiceClient(appConn).Replicate(ctx, &nsv1.ReplicateRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("client certificate calling Replicate: %v, want PermissionDenied", err)
	}

	for name, opt := range map[string]grpc.DialOption{
		"plaintext": grpc.WithTransportCredentials(insecure.NewCredentials()),
		"other CA":  tlsCreds(t, evil),
	} {
		_, err := nsv1.NewKVServiceClient(dialWith(t, n1.GRPCAddr(), opt)).Get(ctx, &nsv1.GetRequest{Key: k})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("%s: %v, want Unavailable (handshake refused)", name, err)
		}
	}

	// Gossip key rotation over TLS, on every node.
	step := func(name string, f func(nsv1.GossipKeyServiceClient) (*nsv1.GossipKeyring, error)) {
		t.Helper()
		for _, n := range c.Nodes {
			kr, err := f(nsv1.NewGossipKeyServiceClient(dialWith(t, n.GRPCAddr(), tlsCreds(t, app))))
			if err != nil {
				t.Fatalf("%s on %s: %v", name, n.ID(), err)
			}
			t.Logf("%s on %s: primary %s keys %v", name, n.ID(), kr.GetPrimary(), kr.GetKeys())
		}
	}
	step("install", func(g nsv1.GossipKeyServiceClient) (*nsv1.GossipKeyring, error) {
		r, err := g.InstallGossipKey(ctx, &nsv1.InstallGossipKeyRequest{Key: newKey})
		return r.GetKeyring(), err
	})
	step("use", func(g nsv1.GossipKeyServiceClient) (*nsv1.GossipKeyring, error) {
		r, err := g.UseGossipKey(ctx, &nsv1.UseGossipKeyRequest{Key: newKey})
		return r.GetKeyring(), err
	})
	step("remove", func(g nsv1.GossipKeyServiceClient) (*nsv1.GossipKeyring, error) {
		r, err := g.RemoveGossipKey(ctx, &nsv1.RemoveGossipKeyRequest{Key: oldKey})
		return r.GetKeyring(), err
	})
	r, err := nsv1.NewGossipKeyServiceClient(appConn).ListGossipKeys(ctx, &nsv1.ListGossipKeysRequest{})
	if err != nil || r.GetKeyring().GetPrimary() != cluster.KeyFingerprint(newKey) || len(r.GetKeyring().GetKeys()) != 1 {
		t.Fatalf("list after rotation: %v %v", r, err)
	}
	_, err = nsv1.NewGossipKeyServiceClient(appConn).InstallGossipKey(ctx, &nsv1.InstallGossipKeyRequest{Key: []byte("short")})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("short key: %v", err)
	}
	// The cluster still works after the rotation.
	if _, err := kv.Put(ctx, &nsv1.PutRequest{Key: k, Value: []byte("w")}); err != nil {
		t.Fatalf("put after rotation: %v", err)
	}
}

// TestTokenCluster: without TLS, tokens guard the public API and peer RPCs,
// and nodes forward to each other with the token.
func TestTokenCluster(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokFile, []byte("t0k3n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := clustertest.Start(t, clustertest.Config{Nodes: 2, Modify: func(_ int, cfg *node.Config) {
		cfg.Security.AuthTokenFile = tokFile
	}})
	n1 := c.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	plain := grpc.WithTransportCredentials(insecure.NewCredentials())
	k := keyOwnedBy(t, n1, "n2")
	withTok := nsv1.NewKVServiceClient(dialWith(t, n1.GRPCAddr(), plain, grpc.WithPerRPCCredentials(transport.TokenCredentials("t0k3n"))))
	if _, err := withTok.Put(ctx, &nsv1.PutRequest{Key: k, Value: []byte("v")}); err != nil {
		t.Fatalf("put with the token, forwarded: %v", err)
	}
	noTok := dialWith(t, n1.GRPCAddr(), plain)
	if _, err := nsv1.NewKVServiceClient(noTok).Get(ctx, &nsv1.GetRequest{Key: k}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("get without a token: %v", err)
	}
	if _, err := nsv1.NewPeerServiceClient(noTok).Replicate(ctx, &nsv1.ReplicateRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("replicate without a token: %v", err)
	}
	// Keys never travel over plaintext... except on loopback, as here; but
	// gossip is not encrypted on these nodes.
	_, err := nsv1.NewGossipKeyServiceClient(dialWith(t, n1.GRPCAddr(), plain, grpc.WithPerRPCCredentials(transport.TokenCredentials("t0k3n")))).
		ListGossipKeys(ctx, &nsv1.ListGossipKeysRequest{})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("list keys without encryption: %v", err)
	}
}

func TestSecurityConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, sc := range map[string]node.SecurityConfig{
		"cert without key":     {TLSCAFile: bad, TLSCertFile: bad},
		"unreadable tls":       {TLSCAFile: bad, TLSCertFile: bad, TLSKeyFile: bad},
		"bad gossip key file":  {GossipKeyFile: bad},
		"absent token file":    {AuthTokenFile: filepath.Join(dir, "absent")},
		"absent gossip key fi": {GossipKeyFile: filepath.Join(dir, "absent")},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := clustertest.NodeConfig(t, 0)
			cfg.Security = sc
			n, err := node.New(cfg)
			if err == nil {
				n.Abort()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, node.ErrInvalidConfig) {
				t.Fatalf("err %v, want ErrInvalidConfig", err)
			}
		})
	}
}
