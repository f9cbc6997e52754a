//go:build !linux

package hugepage

func enable() bool { return false }
