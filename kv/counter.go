package kv

import "math"

// maxCounterLen is the longest canonical decimal int64: "-9223372036854775808".
const maxCounterLen = 20

// parseCounter parses b as a counter: the canonical decimal form of an int64
// as strconv.FormatInt writes it ("0", or an optional '-' then a non-zero
// digit and more digits; no '+', spaces or leading zeros, no "-0"). It does
// not allocate.
func parseCounter(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > maxCounterLen {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] == '0' {
		return 0, len(b) == 1 && !neg
	}
	// Accumulate the magnitude as uint64 so that MinInt64 fits.
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if u > (math.MaxUint64-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true // -(1<<63) wraps to MinInt64 as intended
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// addCounter returns a+b, or false if the sum overflows an int64.
func addCounter(a, b int64) (int64, bool) {
	s := a + b
	if (s > a) != (b > 0) {
		return 0, false
	}
	return s, true
}
