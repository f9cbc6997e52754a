//go:build !amd64

package flow

// prefetch does nothing on this architecture: the batch paths still group their loads.
func prefetch(uintptr) {}
