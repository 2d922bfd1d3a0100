package worker_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/nothingshared/ns/worker"
)

// A pool of word counters: each worker owns the counts of the words
// hashed to it, so no locks are needed. Send is fire and forget; Ask waits
// for the reply, and because each key's messages are handled in order it
// sees every earlier Send of that word.
func Example() {
	counter := worker.HandlerFuncs[map[string]int, string, int]{
		InitFunc: func(int) (map[string]int, error) { return map[string]int{}, nil },
		HandleFunc: func(counts *map[string]int, word string) (int, error) {
			(*counts)[word]++
			return (*counts)[word], nil
		},
	}
	pool, err := worker.New(worker.Config{Workers: 4}, counter)
	if err != nil {
		panic(err)
	}
	if err := pool.Start(); err != nil {
		panic(err)
	}
	defer pool.Close()

	for _, w := range strings.Fields("the cat saw the dog and the dog saw the cat") {
		_ = pool.Send(w, w) // the key picks the worker; the message is the word
	}
	n, _ := pool.Ask(context.Background(), "the", "the") // the fifth "the"
	fmt.Println("the:", n)
	// Output: the: 5
}

// Rings can be used on their own: here a single-producer single-consumer
// ring moving batches.
func ExampleSPSC() {
	q, _ := worker.NewSPSC[int](8)
	q.PushBatch([]int{1, 2, 3})
	dst := make([]int, 8)
	n := q.PopBatch(dst)
	fmt.Println(dst[:n])
	// Output: [1 2 3]
}
