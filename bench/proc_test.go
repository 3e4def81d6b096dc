package bench

import (
	"os"
	"testing"
	"time"
)

func TestReadProcSeesThisProcessWork(t *testing.T) {
	before, err := ReadProc(0)
	if err != nil {
		t.Fatal(err)
	}
	if before.RSS == 0 || before.PeakRSS < before.RSS {
		t.Fatalf("memory readings: %+v", before)
	}
	// Burn CPU until the kernel's 10 ms accounting shows it.
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for {
		for i := 0; i < 1e6; i++ {
			x += i
		}
		after, err := ReadProc(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after.CPU > before.CPU {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time did not move: %v then %v", before.CPU, after.CPU)
		}
	}
	_ = x
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("a process that does not exist was read")
	}
}
