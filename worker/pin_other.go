//go:build !linux

package worker

// Pin restricts the calling OS thread to one CPU. It is implemented on
// Linux only; elsewhere it returns ErrPinningUnsupported (and Pool.Start
// with Config.PinCPUs fails with an error wrapping it).
func Pin(i int) error { return ErrPinningUnsupported }
