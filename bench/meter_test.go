package bench

import (
	"context"
	"os"
	"testing"
)

func TestMeterSamplesMemoryDuringTheWindow(t *testing.T) {
	m := newMeter(func() []int { return []int{os.Getpid(), 0} })
	m.Begin()
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	m.End()
	w := m.Last()
	st, err := ReadProc(0)
	if err != nil {
		t.Fatal(err)
	}
	// At least End's own sample saw the buffer; the missing process reads 0.
	if len(w.NodePeakRSS) != 2 || w.NodePeakRSS[0] < 64<<20 || w.NodePeakRSS[1] != 0 || w.PeakTotalRSS < w.NodePeakRSS[0] ||
		w.SelfPeakRSS == 0 || w.SelfPeakRSS > st.PeakRSS || len(w.EndRSS) != 2 || w.ServerCPU < 0 {
		t.Fatalf("%+v", w)
	}
	_ = buf[len(buf)-1]
	m.End() // a second End changes nothing
	if got := m.Last(); got.PeakTotalRSS != w.PeakTotalRSS {
		t.Fatalf("second End: %+v", got)
	}
}

func TestQuietEndsWithItsContext(t *testing.T) {
	m := newMeter(func() []int { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, quiet := m.quiet(ctx, 0.1, 1<<62); quiet {
		t.Fatal("quiet without a reading")
	}
}
