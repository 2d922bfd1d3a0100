package main

import "github.com/nothingshared/ns/internal/hist"

// benchSubBits is the precision of nsctl bench's latency histograms: each
// power of two is split into 2^5 sub-buckets, so a quantile overstates the
// true value by at most 1/32 (3%).
const benchSubBits = 5

var benchLayout = hist.NewLayout(benchSubBits)

// histogram is a latency histogram in nanoseconds (internal/hist). It is not
// safe for concurrent use: every bench goroutine records into its own and
// they are merged at the end.
type histogram = hist.Histogram

// newHistogram returns an empty latency histogram.
func newHistogram() *histogram { return hist.New(benchLayout) }
