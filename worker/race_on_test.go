//go:build race

package worker

// raceEnabled scales stress tests down: the race detector slows atomics
// by one to two orders of magnitude.
const raceEnabled = true
