package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/rtls-io/rtls/dashboard/model"
	"github.com/rtls-io/rtls/internal/fixstream"
	"github.com/rtls-io/rtls/mobileproto"
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
func (f *Feed) ReadHistory(ctx context.Context, driver string, limit int) ([]model.Driver, error) {
	if !mobileproto.ValidID(driver) {
		return nil, fmt.Errorf("%w: %q", model.ErrBadSubject, driver)
	}
	if limit <= 0 {
		return nil, nil
	}
	subject := fixstream.LocationSubject(driver)
	req, _ := json.Marshal(map[string]any{"seq": 1, "next_by_subj": subject, "batch": limit})
	inbox := f.nc.NewRespInbox()
	sub, err := f.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := f.nc.PublishRequest("$JS.API.DIRECT.GET."+fixstream.StreamName, inbox, req); err != nil {
		return nil, err
	}
	var out []model.Driver
	for len(out) < limit {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return out, fmt.Errorf("history of %s: %w", driver, err)
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "204", "404": // end of batch, or nothing stored
			return out, nil
		default:
			return out, fmt.Errorf("history of %s: direct get: %s %s", driver, status, m.Header.Get("Description"))
		}
		seq, _ := strconv.ParseUint(m.Header.Get(fixstream.SequenceHeader), 10, 64)
		d, err := model.DecodeFix(subject, m.Data, seq)
		if err != nil {
			f.fleet.Reject(err)
			continue
		}
		out = append(out, d)
	}
	return out, nil
}
