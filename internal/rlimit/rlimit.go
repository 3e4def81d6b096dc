// Package rlimit raises this process's limit on open files: every WebSocket
// is a file descriptor, and soft limits default to 1024 while a node or the
// load generator holds thousands.
package rlimit

import (
	"fmt"
	"syscall"
)

// Raise lifts the soft RLIMIT_NOFILE to the hard limit and returns the soft
// limit before and after. When the soft limit already equals the hard one,
// after equals before and err is nil. On an error, after is the limit still
// in force.
func Raise() (before, after uint64, err error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, fmt.Errorf("rlimit: read open files limit: %w", err)
	}
	before = l.Cur
	if l.Cur >= l.Max {
		return before, before, nil
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return before, before, fmt.Errorf("rlimit: raise open files limit from %d to %d: %w", before, l.Max, err)
	}
	return before, l.Cur, nil
}
