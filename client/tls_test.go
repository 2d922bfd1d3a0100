package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nothingshared/ns/client"
	"github.com/nothingshared/ns/internal/clustertest"
	"github.com/nothingshared/ns/internal/tlsutil/certtest"
	"github.com/nothingshared/ns/node"
)

// TestSecurity: the SDK reaches a node with mutual TLS and a token through
// Security.DialOptions; without credentials it cannot.
func TestSecurity(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t, "ns-ca")
	nodeF := certtest.Write(t, dir, "n-", ca.Issue(t, certtest.Leaf{CommonName: "n1", DNS: []string{"ns-peer"}}), ca)
	appF := certtest.Write(t, dir, "app-", ca.Issue(t, certtest.Leaf{CommonName: "app"}), ca)
	tok := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tok, []byte("sdk-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := clustertest.Start(t, clustertest.Config{Nodes: 1, Modify: func(_ int, cfg *node.Config) {
		cfg.Security = node.SecurityConfig{TLSCAFile: nodeF.CA, TLSCertFile: nodeF.Cert, TLSKeyFile: nodeF.Key, AuthTokenFile: tok}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		sec  client.Security
		ok   bool
	}{
		{"client certificate", client.Security{CAFile: appF.CA, CertFile: appF.Cert, KeyFile: appF.Key}, true},
		{"token over server-only TLS", client.Security{CAFile: appF.CA, Token: "sdk-token"}, true},
		{"CA only, no token", client.Security{CAFile: appF.CA}, false},
		{"host name check", client.Security{CAFile: appF.CA, CertFile: appF.Cert, KeyFile: appF.Key, ServerName: "127.0.0.1"}, true},
		{"wrong host name", client.Security{CAFile: appF.CA, CertFile: appF.Cert, KeyFile: appF.Key, ServerName: "db.example"}, false},
		{"plaintext", client.Security{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := tc.sec.DialOptions()
			if err != nil {
				t.Fatal(err)
			}
			cl, err := client.New(ctx, client.Config{Endpoints: c.Endpoints(), DialOptions: opts, DisableWatch: true, RequestTimeout: 2 * time.Second})
			if !tc.ok {
				if err == nil {
					cl.Close()
					t.Fatal("connected")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := cl.Put(ctx, []byte("k"), []byte("v")); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := (client.Security{CertFile: appF.Cert, KeyFile: appF.Key}).DialOptions(); !errors.Is(err, client.ErrInvalidConfig) {
		t.Fatalf("no CA: %v", err)
	}
	if _, err := client.TLSConfig(appF.CA, appF.Cert, appF.Key); err != nil {
		t.Fatal(err)
	}
}
