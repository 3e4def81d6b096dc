package fixstream

import (
	"context"
	"time"
)

// ReadUntil calls read until reached says its longest result so far is
// enough, for up to wait, 20 ms apart, and returns that longest result.
// Reads of the stream are served by any replica, and one may lag behind
// what the caller knows is stored: ReadUntil gives it time to catch up.
// An error from read ends it; ctx ending returns what was read.
func ReadUntil(ctx context.Context, wait time.Duration, read func() ([]Fix, error), reached func([]Fix) bool) ([]Fix, error) {
	deadline := time.Now().Add(wait)
	var best []Fix
	for {
		fixes, err := read()
		if err != nil {
			return nil, err
		}
		if len(fixes) >= len(best) {
			best = fixes
		}
		if reached(best) || time.Now().After(deadline) {
			return best, nil
		}
		select {
		case <-ctx.Done():
			return best, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Reaches reports whether fixes end at or after seq (always for seq 0).
func Reaches(fixes []Fix, seq uint64) bool {
	return seq == 0 || (len(fixes) > 0 && fixes[len(fixes)-1].Seq >= seq)
}
