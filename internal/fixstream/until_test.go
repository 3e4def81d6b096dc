package fixstream

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestReadUntil(t *testing.T) {
	fixes := func(seqs ...uint64) []Fix {
		out := make([]Fix, len(seqs))
		for i, s := range seqs {
			out[i].Seq = s
		}
		return out
	}
	ctx := context.Background()
	t.Run("waits for a lagging replica", func(t *testing.T) {
		answers := [][]Fix{fixes(1), fixes(1, 2), fixes(1, 2, 3)}
		n := 0
		got, err := ReadUntil(ctx, 5*time.Second, func() ([]Fix, error) { n++; return answers[min(n, 3)-1], nil },
			func(f []Fix) bool { return Reaches(f, 3) })
		if err != nil || len(got) != 3 || n != 3 {
			t.Fatalf("%d fixes after %d reads, %v", len(got), n, err)
		}
	})
	t.Run("keeps the longest answer when time is up", func(t *testing.T) {
		answers := [][]Fix{fixes(1, 2), fixes(1)}
		n := 0
		got, err := ReadUntil(ctx, 50*time.Millisecond, func() ([]Fix, error) { n++; return answers[(n-1)%2], nil },
			func(f []Fix) bool { return Reaches(f, 9) })
		if err != nil || len(got) != 2 {
			t.Fatalf("%d fixes, %v", len(got), err)
		}
	})
	t.Run("an error ends it", func(t *testing.T) {
		boom := errors.New("boom")
		if _, err := ReadUntil(ctx, time.Second, func() ([]Fix, error) { return nil, boom }, func([]Fix) bool { return false }); !errors.Is(err, boom) {
			t.Fatalf("err %v", err)
		}
	})
	if !Reaches(nil, 0) || Reaches(nil, 1) || !Reaches(fixes(4), 3) || Reaches(fixes(2), 3) {
		t.Fatal("Reaches")
	}
}
