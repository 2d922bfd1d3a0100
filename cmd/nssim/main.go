// Command nssim runs simulated ns clusters in one process (package sim) and
// prints what they measured: `nssim -n 10,100`. See docs/scale.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nothingshared/ns/sim"
)

func main() {
	sizes := flag.String("n", "10,100", "cluster sizes to simulate, comma-separated")
	partitions := flag.Int("partitions", 0, "partitions; 0 picks per size (sim.PartitionsFor: 271 up to 64 members, then >= 16 per member, at most 16384)")
	backups := flag.Int("backups", 1, "backups per partition")
	workers := flag.Int("workers", 1, "workers per node")
	scale := flag.Float64("scale", 1, "multiply memberlist's LAN intervals and timeouts by this")
	rest := flag.Duration("rest", 10*time.Second, "how long to measure the cluster at rest")
	timeout := flag.Duration("timeout", 2*time.Minute, "bound on each wait for agreement")
	batch := flag.Int("batch", 10, "nodes started at once during bootstrap (each batch once the previous agreed)")
	noCompress := flag.Bool("no-compression", false, "turn memberlist's compression off (its LAN default is on)")
	noQuorum := flag.Bool("disable-quorum", false, "set --disable-quorum on every node (the serving lease never lapses)")
	verbose := flag.Bool("v", false, "print the nodes' warnings")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfile := flag.String("memprofile", "", "write a heap profile at the end of the last run to this file")
	flag.Parse()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "nssim: %v\n", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "nssim: %v\n", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var reps []sim.Report
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fmt.Fprintf(os.Stderr, "nssim: -n: %v\n", err)
			os.Exit(2)
		}
		cfg := sim.Config{HeapProfile: *memProfile, Nodes: n, Partitions: *partitions, Backups: *backups, Workers: *workers,
			Scale: *scale, Batch: *batch, NoCompression: *noCompress, DisableQuorum: *noQuorum, Rest: *rest, Timeout: *timeout, Progress: os.Stderr}
		if *verbose {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
		rep, err := sim.Run(ctx, cfg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "nssim: N=%d: %v\n", n, err)
		}
		reps = append(reps, rep)
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Printf("nssim %s, GOMAXPROCS %d\n\n", time.Now().UTC().Format(time.RFC3339), runtimeProcs())
	sim.Print(os.Stdout, reps)
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
