package dashboard

import (
	"fmt"
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/rtls-io/rtls/dashboard/model"
)

// The list's columns: title, sort key, and share of the width.
var listColumns = []struct {
	title string
	key   model.SortKey
	share float32
}{
	{"Driver", model.SortByID, 0.14},
	{"Status", model.SortByStatus, 0.32}, // "● offline · disconnected"
	{"Seen", model.SortByAge, 0.13},
	{"Speed", model.SortBySpeed, 0.15},
	{"Position", model.SortByPosition, 0.26}, // 4 decimals, 11 m; the details show 5
}

var colRowSelected = color.RGBA{0x15, 0x65, 0xc0, 0x40}

// columns lays its objects out side by side with the listColumns' shares.
type columns struct{}

func (columns) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	x := float32(0)
	for i, o := range objs {
		w := size.Width * listColumns[i%len(listColumns)].share
		o.Move(fyne.NewPos(x, 0))
		o.Resize(fyne.NewSize(w, size.Height))
		x += w
	}
}

func (columns) MinSize(objs []fyne.CanvasObject) fyne.Size {
	h := float32(0)
	for _, o := range objs {
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(100, h)
}

// driverList is the sortable, searchable list of drivers, with a toggle
// for the drivers that need attention (model.ProblemsFirst). Fyne
// goroutine only.
type driverList struct {
	fleet    *model.Fleet
	onSelect func(id string)

	query    model.Query
	before   model.Query // the sort before the problems toggle was turned on
	rows     []model.Row
	selected string

	search   *widget.Entry
	problems *widget.Check
	sorts    []*widget.Button
	list     *widget.List
	summary  *widget.Label
	content  fyne.CanvasObject
}

func newDriverList(fleet *model.Fleet, onSelect func(string)) *driverList {
	l := &driverList{fleet: fleet, onSelect: onSelect}
	l.search = widget.NewEntry()
	l.search.SetPlaceHolder("Search driver, status or node")
	l.search.OnChanged = func(s string) {
		l.query.Search = s
		l.update()
	}
	l.problems = widget.NewCheck("Stale or offline", l.showProblems)
	var heads []fyne.CanvasObject
	for _, c := range listColumns {
		key := c.key
		b := widget.NewButton(c.title, func() { l.sortBy(key) })
		b.Alignment = widget.ButtonAlignLeading
		b.Importance = widget.LowImportance
		l.sorts = append(l.sorts, b)
		heads = append(heads, b)
	}
	l.list = widget.NewList(
		func() int { return len(l.rows) },
		l.createRow,
		l.updateRow,
	)
	l.list.OnSelected = func(i widget.ListItemID) {
		// The list's own selection would scroll to the row at every
		// re-sort; the dashboard keeps the selection and highlights it.
		l.list.UnselectAll()
		if i >= 0 && i < len(l.rows) && l.onSelect != nil {
			l.onSelect(l.rows[i].ID)
		}
	}
	l.summary = widget.NewLabel("")
	l.setSortTitles()
	top := container.NewVBox(container.NewBorder(nil, nil, nil, l.problems, l.search), container.New(columns{}, heads...))
	l.content = container.NewBorder(top, l.summary, nil, nil, l.list)
	return l
}

func (l *driverList) createRow() fyne.CanvasObject {
	bg := canvas.NewRectangle(color.Transparent)
	cells := make([]fyne.CanvasObject, len(listColumns))
	for i := range cells {
		t := widget.NewLabel("")
		t.Truncation = fyne.TextTruncateEllipsis
		t.SizeName = theme.SizeNameCaptionText
		cells[i] = t
	}
	status := canvas.NewText("", colText)
	status.TextStyle.Bold = true
	status.TextSize = theme.CaptionTextSize()
	cells[1] = container.NewPadded(status)
	return container.NewStack(bg, container.New(columns{}, cells...))
}

func (l *driverList) updateRow(i widget.ListItemID, o fyne.CanvasObject) {
	if i < 0 || i >= len(l.rows) {
		return
	}
	r := &l.rows[i]
	stack := o.(*fyne.Container)
	bg := stack.Objects[0].(*canvas.Rectangle)
	want := color.Color(color.Transparent)
	if r.ID == l.selected {
		want = colRowSelected
	}
	if bg.FillColor != want {
		bg.FillColor = want
		bg.Refresh()
	}
	cells := stack.Objects[1].(*fyne.Container).Objects
	cells[0].(*widget.Label).SetText(r.ID)
	status := cells[1].(*fyne.Container).Objects[0].(*canvas.Text)
	if txt, c := "● "+formatState(r.Status, r.Reason), StatusColour(r.Status); status.Text != txt || status.Color != c {
		status.Text, status.Color = txt, c
		status.Refresh()
	}
	seen, position := "–", "–"
	if r.Age != model.Never {
		seen = formatAge(r.Age)
	}
	if r.HasFix {
		position = fmt.Sprintf("%.4f, %.4f", r.Lat, r.Lon)
	}
	cells[2].(*widget.Label).SetText(seen)
	cells[3].(*widget.Label).SetText(formatSpeed(r.Speed))
	cells[4].(*widget.Label).SetText(position)
}

func (l *driverList) sortBy(key model.SortKey) {
	if l.query.Sort == key {
		l.query.Desc = !l.query.Desc
	} else {
		l.query.Sort, l.query.Desc = key, false
	}
	l.setSortTitles()
	l.update()
}

// showProblems turns "stale or offline, longest silent first" on or off.
// On, the list keeps only the drivers that are not online, sorted by age
// descending (the columns still re-sort them); off, it shows everyone in the
// order it had before, unless a column was chosen meanwhile. The search box
// applies either way.
func (l *driverList) showProblems(on bool) {
	if on == l.query.Problems {
		return
	}
	if on {
		l.before = l.query
		l.query = model.ProblemsFirst(l.query.Search)
	} else {
		l.query.Problems = false
		if p := model.ProblemsFirst(""); l.query.Sort == p.Sort && l.query.Desc == p.Desc {
			l.query.Sort, l.query.Desc = l.before.Sort, l.before.Desc
		}
	}
	l.setSortTitles()
	l.update()
}

func (l *driverList) setSortTitles() {
	for i, c := range listColumns {
		title := c.title
		if c.key == l.query.Sort {
			title += map[bool]string{false: " ▲", true: " ▼"}[l.query.Desc]
		}
		l.sorts[i].SetText(title)
	}
}

// update re-reads the rows from the fleet and refreshes the visible ones.
func (l *driverList) update() {
	l.rows = l.fleet.Rows(l.query)
	l.selected = l.fleet.Selected()
	if l.query.Problems {
		l.summary.SetText(fmt.Sprintf("%d of %d drivers stale or offline", len(l.rows), l.fleet.Len()))
	} else {
		l.summary.SetText(fmt.Sprintf("%d of %d drivers", len(l.rows), l.fleet.Len()))
	}
	l.list.Refresh()
}

// reveal scrolls the list to the selected driver's row, if it is shown.
func (l *driverList) reveal() {
	for i := range l.rows {
		if l.rows[i].ID == l.selected {
			l.list.ScrollTo(i)
			return
		}
	}
}
