package model

import "math"

// Defaults of Clustering.
const (
	// DefaultCellSize is the side of a cluster cell in screen units: about
	// seven dots side by side, and room for a four-digit count.
	DefaultCellSize = 48
	// DefaultMinCount is the fewest drivers in a cell that are drawn as a
	// count. Up to four 7-unit dots in a 48-unit cell rarely overlap and
	// stay tappable; from five on they start to cover each other.
	DefaultMinCount = 5
	// minCellSize bounds the grid's memory (a cell per 8×8 units at most).
	minCellSize = 8
)

// Clustering is the map's rule for drivers that would overlap: the view is
// cut into square cells of CellSize screen units, anchored to the world (so
// panning does not move them), and a cell holding at least MinCount of the
// drivers in view is aggregated, drawn as one mark with its count, coloured
// by the worst state inside. Cells with fewer drivers show them as dots. At
// MaxZoom nothing is aggregated: zooming in can always reveal every driver.
//
// A Clustering keeps its memory between calls to Bin; one belongs to one
// goroutine (the map's). The zero value uses the defaults.
type Clustering struct {
	// CellSize is the side of a cell in screen units. Zero means
	// DefaultCellSize (48); values below 8 mean 8.
	CellSize float64
	// MinCount is the fewest drivers in view in a cell that are aggregated.
	// Zero means DefaultMinCount (5).
	MinCount int

	dense []Cell  // one per cell of the view, row by row; Count 0 when empty
	remap []int32 // dense index → index in out.Cells
	out   Clusters
}

// Cell is one cell of the grid with at least one driver in view.
type Cell struct {
	// Col and Row place the cell in the grid of the current zoom: it covers
	// world x from Col·CellSize/WorldSize to (Col+1)·CellSize/WorldSize,
	// and y likewise.
	Col, Row int
	// Count is the number of drivers in view in the cell.
	Count int
	// Worst is the most severe State (State.Severity) among them.
	Worst State
	// X and Y are their centroid in world coordinates.
	X, Y float64
	// Bounds is the smallest rectangle holding them (world coordinates).
	Bounds Bounds
	// Selected: the selected driver is one of them.
	Selected bool
	// Aggregated: the cell is drawn as its count, not as dots.
	Aggregated bool
}

// Clusters is the result of Bin: the cells of the view that hold drivers,
// and which cell each driver fell in.
type Clusters struct {
	// Cells holds every cell with a driver in view, row by row, left to right.
	Cells []Cell
	// CellOf is, for each point given to Bin, the index of its cell in
	// Cells, or -1 when the point is out of view.
	CellOf []int32
	// InView is the number of points in view (the sum of the cells' counts).
	InView int
	// Selected is the index of the selected driver's point, or -1 when no
	// driver is selected or it is out of view.
	Selected int
	// CellSize is the cell side used, in screen units.
	CellSize float64
}

// Dot reports whether point i is drawn as a dot of its own: it is in view
// and its cell is not aggregated. The selected driver is always drawn on
// top, aggregated or not.
func (c *Clusters) Dot(i int) bool {
	k := c.CellOf[i]
	return k >= 0 && !c.Cells[k].Aggregated
}

// Bin sorts the points in view of vp (screen positions in [0, Width) ×
// [0, Height)) into cells and decides which are aggregated. selected is the
// selected driver's id ("" for none). The result and its slices are reused
// by the next call to Bin. It does not allocate once its buffers have grown
// to the view and the fleet.
func (cl *Clustering) Bin(pts []Point, vp *Viewport, selected string) *Clusters {
	size := cl.CellSize
	if size == 0 {
		size = DefaultCellSize
	}
	size = math.Max(size, minCellSize)
	minCount := cl.MinCount
	if minCount <= 0 {
		minCount = DefaultMinCount
	}
	out := &cl.out
	out.Cells, out.InView, out.Selected, out.CellSize = out.Cells[:0], 0, -1, size
	out.CellOf = grow(out.CellOf, len(pts))

	// The view's cells: grid columns c0…c1 and rows r0…r1, where a screen
	// point (sx, sy) is in column floor((sx+ox)/size).
	w := vp.WorldSize()
	ox, oy := vp.CenterX*w-vp.Width/2, vp.CenterY*w-vp.Height/2
	c0, r0 := math.Floor(ox/size), math.Floor(oy/size)
	cols := int(math.Floor((ox+vp.Width)/size)-c0) + 1
	rows := int(math.Floor((oy+vp.Height)/size)-r0) + 1
	if vp.Width <= 0 || vp.Height <= 0 || cols <= 0 || rows <= 0 {
		for i := range out.CellOf {
			out.CellOf[i] = -1
		}
		return out
	}
	inv := 1 / size
	n := cols * rows
	if cap(cl.dense) < n {
		cl.dense = make([]Cell, n)
		cl.remap = make([]int32, n)
	}
	dense := cl.dense[:n]
	clear(dense)

	for i := range pts {
		p := &pts[i]
		sx, sy := (p.X-vp.CenterX)*w+vp.Width/2, (p.Y-vp.CenterY)*w+vp.Height/2
		if !(sx >= 0 && sx < vp.Width && sy >= 0 && sy < vp.Height) { // NaN is out
			out.CellOf[i] = -1
			continue
		}
		// Monotonic in sx: 0 ≤ sx < Width keeps the index in the view's
		// grid, up to rounding, which the clamps absorb.
		col := min(cols-1, max(0, int(math.Floor((sx+ox)*inv)-c0)))
		row := min(rows-1, max(0, int(math.Floor((sy+oy)*inv)-r0)))
		k := row*cols + col
		out.CellOf[i] = int32(k)
		c := &dense[k]
		if c.Count == 0 {
			c.Worst = p.Status
			c.Bounds = Bounds{p.X, p.Y, p.X, p.Y}
		} else {
			if p.Status.Severity() > c.Worst.Severity() {
				c.Worst = p.Status
			}
			// Plain comparisons: positions in view are never NaN.
			if p.X < c.Bounds.MinX {
				c.Bounds.MinX = p.X
			} else if p.X > c.Bounds.MaxX {
				c.Bounds.MaxX = p.X
			}
			if p.Y < c.Bounds.MinY {
				c.Bounds.MinY = p.Y
			} else if p.Y > c.Bounds.MaxY {
				c.Bounds.MaxY = p.Y
			}
		}
		c.Count++
		c.X += p.X
		c.Y += p.Y
		if selected != "" && p.ID == selected {
			c.Selected = true
			out.Selected = i
		}
		out.InView++
	}

	// Keep the cells with drivers, row by row; finish their centroids.
	aggregate := vp.Zoom < MaxZoom
	remap := cl.remap[:n]
	for k := range dense {
		c := &dense[k]
		if c.Count == 0 {
			continue
		}
		c.Col, c.Row = int(c0)+k%cols, int(r0)+k/cols
		c.X /= float64(c.Count)
		c.Y /= float64(c.Count)
		c.Aggregated = aggregate && c.Count >= minCount
		remap[k] = int32(len(out.Cells))
		out.Cells = append(out.Cells, *c)
	}
	for i, k := range out.CellOf {
		if k >= 0 {
			out.CellOf[i] = remap[k]
		}
	}
	return out
}

// grow returns s with length n, reusing its array when it is large enough.
func grow(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n, n+n/4)
	}
	return s[:n]
}
