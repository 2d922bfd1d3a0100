package sim

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Print writes reports as the tables of docs/scale.md.
func Print(w io.Writer, reps []Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tpartitions\tscale\tbootstrap\tready\theap/node\tgoroutines/node\trest pkts/node/s\trest B/node/s\trest streams/node/s\trest CPU/node\tprocess CPU\t")
	for _, r := range reps {
		n := r.Config.Nodes
		fmt.Fprintf(tw, "%d\t%d\tx%g\t%s\t%s\t%s\t%d\t%.1f\t%s\t%.3f\t%s\t%.2f cores\t\n", n, r.Config.Partitions, r.Config.Scale,
			dur(r.Bootstrap), dur(r.Ready), byteSize(float64(r.HeapBytes)/float64(n)), r.Goroutines/n,
			r.Rest.Packets, byteSize(r.Rest.Bytes()), r.Rest.Streams, millicores(r.Rest.CPUPerNode), r.Rest.ProcessCPU)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tevent\tsame placement\tsame table\tsame table/scale\tready\tmoved\tideal\tmoved/ideal\towner+backup changed\tpkts/node/s\tB/node/s\tCPU/node\tprocess CPU\tdropped/s\t")
	for _, r := range reps {
		for _, e := range r.Events {
			if e.Placement == 0 {
				fmt.Fprintf(tw, "%d\t%s\tFAILED (below)\t\t\t\t\t\t\t\t%.1f\t%s\t%s\t%.2f cores\t%.0f\t\n", r.Config.Nodes, e.Name,
					e.Traffic.Packets, byteSize(e.Traffic.Bytes()), millicores(e.Traffic.CPUPerNode), e.Traffic.ProcessCPU, e.Traffic.DroppedPerSec)
				continue
			}
			ratio := 0.0
			if e.Ideal > 0 {
				ratio = float64(e.Moved) / e.Ideal
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%.1f\t%.2fx\t%d\t%.1f\t%s\t%s\t%.2f cores\t%.0f\t\n", r.Config.Nodes, e.Name,
				dur(e.Placement), dur(e.Agree), dur(time.Duration(float64(e.Agree)/r.Config.Scale)), dur(e.Ready), e.Moved, e.Ideal, ratio, e.Changed,
				e.Traffic.Packets, byteSize(e.Traffic.Bytes()), millicores(e.Traffic.CPUPerNode), e.Traffic.ProcessCPU, e.Traffic.DroppedPerSec)
		}
	}
	_ = tw.Flush()
	for _, r := range reps {
		if r.NotReady != "" {
			fmt.Fprintf(w, "N=%d bootstrap: %s\n", r.Config.Nodes, r.NotReady)
		}
		for _, e := range r.Events {
			if e.Err != "" {
				fmt.Fprintf(w, "N=%d %s: %s\n", r.Config.Nodes, e.Name, e.Err)
			}
			if e.NotReady != "" {
				fmt.Fprintf(w, "N=%d %s: %s\n", r.Config.Nodes, e.Name, e.NotReady)
			}
		}
	}
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func millicores(c float64) string { return fmt.Sprintf("%.1fm", c*1000) }

func byteSize(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}
