package rlimit

import (
	"syscall"
	"testing"
)

func TestRaiseReachesTheHardLimit(t *testing.T) {
	before, after, err := Raise()
	if err != nil {
		t.Fatal(err)
	}
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	if after != l.Cur || l.Cur != l.Max || after < before {
		t.Fatalf("before %d, after %d, limit now %d of %d", before, after, l.Cur, l.Max)
	}
	// A second call changes nothing.
	b2, a2, err := Raise()
	if err != nil || b2 != after || a2 != after {
		t.Fatalf("second call: %d, %d, %v", b2, a2, err)
	}
}
