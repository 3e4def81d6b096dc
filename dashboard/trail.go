package dashboard

import (
	"context"
	"fmt"

	"github.com/rtls-io/rtls/dashboard/model"
	"github.com/rtls-io/rtls/location"
)

// trailLoop serves LoadTrail requests one at a time, newest request first.
func (f *Feed) trailLoop() {
	defer f.wg.Done()
	for {
		select {
		case <-f.base.Done():
			return
		case driver := <-f.trailq:
			// One batched direct get: it answers in milliseconds or not at
			// all (during an election), so it gets the short API timeout.
			ctx, cancel := context.WithTimeout(f.base, f.cfg.APITimeout)
			fixes, err := f.ReadHistory(ctx, driver, f.cfg.TrailDepth)
			cancel()
			if err != nil {
				f.log.Warn("trail", "driver", driver, "err", err)
				continue
			}
			f.fleet.SetTrail(driver, fixes)
		}
	}
}

// ReadHistory returns up to limit of driver's stored fixes, oldest first,
// with one batched direct get (served by any replica of the stream).
// Messages that are not valid records of the driver are skipped and counted
// by the fleet.
func (f *Feed) ReadHistory(ctx context.Context, driver string, limit int) ([]model.Driver, error) {
	if !location.ValidID(driver) {
		return nil, fmt.Errorf("%w: %q", model.ErrBadSubject, driver)
	}
	fixes, err := f.reader.After(ctx, driver, 0, limit)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", driver, err)
	}
	out := make([]model.Driver, len(fixes))
	for i := range fixes {
		out[i] = model.FromLocation(&fixes[i].Record, fixes[i].Seq)
	}
	return out, nil
}
