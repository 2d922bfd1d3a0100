package node_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nothingshared/ns/node"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// counter is one partition's state of the "hits" service: a count per key.
// Only the worker that owns the partition ever touches it, so no locks.
type counter struct{ hits map[string]uint64 }

// Handle counts one hit for the key in payload and returns the new count.
func (c *counter) Handle(_ time.Time, payload []byte) ([]byte, error) {
	c.hits[string(payload)]++
	return binary.AppendUvarint(nil, c.hits[string(payload)]), nil
}

// Example embeds a node in your own binary with your own service next to the
// built-in key-value store, and calls it over gRPC.
func Example() {
	cfg := node.DefaultConfig()
	cfg.NodeID = "example"
	cfg.GRPCAddr = "127.0.0.1:0" // any free port
	cfg.HTTPAddr = ""            // no admin server
	cfg.RESPAddr = ""            // no Redis protocol
	cfg.Cluster.BindPort = 0     // any free gossip port
	cfg.Services = []node.Service{
		node.KVService(),
		node.ServiceFunc{ServiceName: "hits", New: func(partition int) node.Partition {
			return &counter{hits: map[string]uint64{}}
		}},
	}
	n, err := node.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := n.Start(ctx); err != nil {
		panic(err)
	}
	defer n.Shutdown(ctx)
	// Start returns before the node has formed its cluster (of one, here).
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.WaitReady(wctx); err != nil {
		panic(err)
	}

	conn, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	api := nsv1.NewNodeServiceClient(conn)
	for i := 0; i < 3; i++ {
		resp, err := api.Send(ctx, &nsv1.SendRequest{Item: &nsv1.Item{
			Service: "hits", Key: []byte("page:/home"), Payload: []byte("page:/home")}})
		if err != nil {
			panic(err)
		}
		n, _ := binary.Uvarint(resp.GetPayload())
		fmt.Println("hits:", n)
	}
	// Output:
	// hits: 1
	// hits: 2
	// hits: 3
}
