package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/nothingshared/ns/client"
	"github.com/nothingshared/ns/client/internal/fakecluster"
	"github.com/nothingshared/ns/kv"
)

// Example connects to a running nsnode (it needs one, so it has no output
// to check) and uses the built-in key-value service.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.New(ctx, client.Config{Endpoints: []string{"127.0.0.1:7700"}})
	if err != nil {
		log.Fatal(err) // "client: cannot reach 127.0.0.1:7700: is nsnode running? ..."
	}
	defer c.Close()

	if err := c.Put(ctx, []byte("user:42"), []byte("Ada")); err != nil {
		log.Fatal(err)
	}
	name, err := c.Get(ctx, []byte("user:42"))
	if errors.Is(err, client.ErrNotFound) {
		fmt.Println("no such user")
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", name)
}

// Example_inProcess runs against an in-process fake cluster of two nodes:
// the client routes each key to its owner and batches concurrent calls.
func Example_inProcess() {
	fc, err := fakecluster.New(fakecluster.Bufconn, 2)
	if err != nil {
		log.Fatal(err)
	}
	defer fc.Close()

	ctx := context.Background()
	c, err := client.New(ctx, client.Config{
		Endpoints:   fc.Addrs()[:1],
		DialOptions: fc.DialOptions(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, owner := c.Locate([]byte("visits"))
	fmt.Println("owner known:", owner.ID != "")

	for range 3 {
		if _, err := c.Incr(ctx, []byte("visits"), 1); err != nil {
			log.Fatal(err)
		}
	}
	n, _ := c.Incr(ctx, []byte("visits"), 0)
	fmt.Println("visits:", n)

	swapped, _, _ := c.CompareAndSwapAbsent(ctx, []byte("leader"), []byte("me"))
	fmt.Println("became leader:", swapped)

	// A batch of key-value requests, spread over both nodes in one go.
	resps, errs := c.Do(ctx, []kv.Request{
		{Op: kv.OpPut, Key: []byte("a"), Value: []byte("1")},
		{Op: kv.OpGet, Key: []byte("leader")},
		{Op: kv.OpGet, Key: []byte("missing")},
	})
	fmt.Printf("%v %s %v\n", errs[0], resps[1].Value, errors.Is(errs[2], client.ErrNotFound))
	// Output:
	// owner known: true
	// visits: 3
	// became leader: true
	// <nil> me true
}
