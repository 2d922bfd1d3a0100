//go:build linux

package worker

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Pin restricts the calling OS thread to one CPU. Callers must hold the
// thread with runtime.LockOSThread first and should never unlock it
// afterwards (let the goroutine exit locked so the runtime discards the
// thread instead of reusing a pinned one). i is taken modulo the number
// of CPUs this process may run on, counting in the order of the current
// affinity mask, so Pin(i) works inside a restricted cpuset.
func Pin(i int) error {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return fmt.Errorf("worker: sched_getaffinity: %w", err)
	}
	cpus := make([]int, 0, allowed.Count())
	for c := range len(allowed) * 64 {
		if allowed.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return fmt.Errorf("worker: empty affinity mask")
	}
	var set unix.CPUSet
	set.Set(cpus[i%len(cpus)])
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("worker: sched_setaffinity(cpu %d): %w", cpus[i%len(cpus)], err)
	}
	return nil
}
