package dashboard

import (
	"fmt"
	"image/color"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/rtls-io/rtls/dashboard/model"
)

var colBanner = color.RGBA{0xc6, 0x28, 0x28, 0xff}

// header shows the fleet's numbers and the connection, and a banner while
// the dashboard is not connected. Fyne goroutine only.
type header struct {
	active, rate, conn, node, notes *widget.Label
	banner, bar                     *fyne.Container
	bannerText                      *canvas.Text
	content                         fyne.CanvasObject
}

func newHeader() *header {
	h := &header{
		active: widget.NewLabel(""),
		rate:   widget.NewLabel(""),
		conn:   widget.NewLabel(""),
		node:   widget.NewLabel(""),
		notes:  widget.NewLabel(""),
	}
	h.active.TextStyle.Bold = true
	h.bannerText = canvas.NewText("", color.White)
	h.bannerText.TextStyle.Bold = true
	h.banner = container.NewStack(canvas.NewRectangle(colBanner), container.NewPadded(h.bannerText))
	h.banner.Hide()
	h.bar = container.NewHBox(h.active, widget.NewSeparator(), h.rate, widget.NewSeparator(), h.conn, widget.NewSeparator(), h.node, widget.NewSeparator(), h.notes)
	h.content = container.NewVBox(h.banner, h.bar)
	return h
}

// update shows counts, the live fix rate and the feed's status. The counts
// are the drivers' liveness states across the cluster, as their nodes
// announced them: online is connected and sending, whatever the age of
// the newest fix the dashboard has.
func (h *header) update(c model.Counts, fixesPerSecond float64, st Status, stats model.Stats) {
	h.active.SetText(fmt.Sprintf("Online drivers: %d of %d  (stale %d · offline %d)", c.Online, c.Total(), c.Stale, c.Offline))
	h.rate.SetText(fmt.Sprintf("%.1f fixes/s", fixesPerSecond))
	h.conn.SetText("Cluster: " + st.State.String())
	if st.Server != "" {
		h.node.SetText("Node: " + st.Server)
	} else {
		h.node.SetText("Node: –")
	}
	var notes []string
	if st.Snapshot.Loading {
		notes = append(notes, "loading every driver's status and last fix…")
	} else if st.Snapshot.Err != nil && st.State == Connected {
		notes = append(notes, "snapshot failed: "+st.Snapshot.Err.Error())
	}
	if st.Snapshot.NoPresence && st.State == Connected {
		notes = append(notes, "the cluster announces no liveness: states from the age of fixes")
	}
	if n := stats.Malformed + stats.BadSubject + stats.BadStatus; n > 0 {
		notes = append(notes, fmt.Sprintf("%d bad messages skipped", n))
	}
	if st.Dropped > 0 {
		notes = append(notes, fmt.Sprintf("%d live messages dropped (too slow)", st.Dropped))
	}
	h.notes.SetText(strings.Join(notes, " · "))
	h.bar.Refresh() // the labels' widths changed: lay the row out again

	if st.State == Connected {
		if h.banner.Visible() {
			h.banner.Hide()
		}
		return
	}
	msg := "Not connected to the cluster: " + st.State.String()
	if st.State != Closed {
		msg += " (retrying every node)"
	}
	if st.Err != nil {
		msg += " — " + st.Err.Error()
	}
	msg += ". Positions shown may be out of date."
	if h.bannerText.Text != msg {
		h.bannerText.Text = msg
		h.bannerText.Refresh()
	}
	if !h.banner.Visible() {
		h.banner.Show()
	}
}
