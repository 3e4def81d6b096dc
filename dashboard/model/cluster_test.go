package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// pointAt is a driver at screen position (sx, sy) of vp.
func pointAt(vp *Viewport, id string, sx, sy float64, st State) Point {
	x, y := vp.FromScreen(sx, sy)
	return Point{ID: id, X: x, Y: y, Status: st}
}

// randomPoints scatters n drivers over a rectangle a little larger than vp,
// in every state.
func randomPoints(vp *Viewport, n int, seed uint64) []Point {
	r := rand.New(rand.NewPCG(seed, 1))
	pts := make([]Point, n)
	for i := range pts {
		sx, sy := -100+r.Float64()*(vp.Width+200), -100+r.Float64()*(vp.Height+200)
		pts[i] = pointAt(vp, fmt.Sprintf("sim-%d", i), sx, sy, [...]State{Online, Stale, Offline}[r.IntN(3)])
	}
	return pts
}

func TestBinCountsAddUpToTheDriversInView(t *testing.T) {
	for _, tc := range []struct {
		name string
		vp   Viewport
		cell float64
	}{
		{"city", NewViewport(12.97, 77.59, 12.3, 740, 640), 0},
		{"fractional zoom, odd size", NewViewport(-33.9, 18.4, 9.77, 333, 517), 40},
		{"large cells", NewViewport(48.85, 2.35, 14, 1280, 800), 60},
		{"world", NewViewport(0, 0, 1, 900, 600), 48},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pts := randomPoints(&tc.vp, 3000, 7)
			cl := Clustering{CellSize: tc.cell}
			res := cl.Bin(pts, &tc.vp, "")
			size := res.CellSize
			w := tc.vp.WorldSize()
			inView, sum := 0, 0
			counts := make([]int, len(res.Cells))
			for i, p := range pts {
				sx, sy := tc.vp.ToScreen(p.X, p.Y)
				in := sx >= 0 && sx < tc.vp.Width && sy >= 0 && sy < tc.vp.Height
				k := res.CellOf[i]
				if in != (k >= 0) {
					t.Fatalf("point %d at %.2f, %.2f: in view %v, cell %d", i, sx, sy, in, k)
				}
				if !in {
					continue
				}
				inView++
				counts[k]++
				// The cell is the world-anchored grid square under the point.
				c := res.Cells[k]
				if col, row := math.Floor(p.X*w/size), math.Floor(p.Y*w/size); math.Abs(col-float64(c.Col)) > 0 || math.Abs(row-float64(c.Row)) > 0 {
					t.Fatalf("point %d in cell %d,%d, want %v,%v", i, c.Col, c.Row, col, row)
				}
			}
			for k, c := range res.Cells {
				sum += c.Count
				if c.Count != counts[k] || c.Count == 0 {
					t.Fatalf("cell %d counts %d, %d points point at it", k, c.Count, counts[k])
				}
				if k > 0 {
					if p := res.Cells[k-1]; p.Row > c.Row || (p.Row == c.Row && p.Col >= c.Col) {
						t.Fatalf("cells out of order: %d,%d then %d,%d", p.Col, p.Row, c.Col, c.Row)
					}
				}
			}
			if sum != inView || res.InView != inView || inView == 0 || inView == len(pts) {
				t.Fatalf("cells hold %d, InView %d, %d of %d points in view", sum, res.InView, inView, len(pts))
			}
		})
	}
}

func TestBinWorstStateCentroidAndRule(t *testing.T) {
	vp := NewViewport(12.97, 77.59, 14, 480, 480)
	var pts []Point
	// put drivers in the given states into the cell (dc, dr) counted from
	// the third column and row of the view's grid.
	put := func(dc, dr float64, states ...State) {
		w := vp.WorldSize()
		ox, oy := vp.CenterX*w-vp.Width/2, vp.CenterY*w-vp.Height/2
		col, row := math.Floor(ox/DefaultCellSize)+2+dc, math.Floor(oy/DefaultCellSize)+2+dr
		x0, y0 := col*DefaultCellSize-ox, row*DefaultCellSize-oy // the cell's top left on screen
		for i, st := range states {
			pts = append(pts, pointAt(&vp, fmt.Sprintf("c%v-%v-%d", dc, dr, i), x0+4+float64(i)*5, y0+10+float64(i%3)*7, st))
		}
	}
	put(0, 0, Online, Online, Online, Online, Online)        // 5 live: aggregated, live
	put(1, 0, Online, Stale, Online, Online, Online, Online) // stale inside: stale
	put(2, 0, Online, Stale, Offline, Online, Online)        // offline is worst
	put(3, 0, Offline, Offline, Online, Offline, Online)     // offline first, still offline
	put(0, 1, Offline, Offline, Offline, Offline)            // 4: dots
	put(1, 1, Stale)                                         // 1: a dot
	res := (&Clustering{}).Bin(pts, &vp, "")
	want := []struct {
		count      int
		worst      State
		aggregated bool
	}{{5, Online, true}, {6, Stale, true}, {5, Offline, true}, {5, Offline, true}, {4, Offline, false}, {1, Stale, false}}
	if len(res.Cells) != len(want) {
		t.Fatalf("%d cells, want %d", len(res.Cells), len(want))
	}
	i := 0
	for k, c := range res.Cells {
		if c.Count != want[k].count || c.Worst != want[k].worst || c.Aggregated != want[k].aggregated {
			t.Errorf("cell %d: %d drivers, worst %v, aggregated %v; want %+v", k, c.Count, c.Worst, c.Aggregated, want[k])
		}
		var sx, sy float64
		b := Bounds{}
		for j := 0; j < c.Count; j++ {
			sx += pts[i+j].X
			sy += pts[i+j].Y
			b = b.Extend(pts[i+j].X, pts[i+j].Y, j > 0)
			if res.Dot(i+j) == c.Aggregated {
				t.Errorf("point %d: Dot %v in a cell aggregated %v", i+j, res.Dot(i+j), c.Aggregated)
			}
		}
		if n := float64(c.Count); math.Abs(c.X-sx/n) > 1e-15 || math.Abs(c.Y-sy/n) > 1e-15 || c.Bounds != b {
			t.Errorf("cell %d centroid %v,%v bounds %+v; want %v,%v %+v", k, c.X, c.Y, c.Bounds, sx/n, sy/n, b)
		}
		i += c.Count
	}

	// At the deepest zoom nothing is aggregated.
	pts = pts[:0]
	vp.Zoom = MaxZoom
	put(0, 0, Online, Online, Online, Online, Online, Online, Online, Online)
	if cs := (&Clustering{}).Bin(pts, &vp, "").Cells; len(cs) != 1 || cs[0].Count != 8 || cs[0].Aggregated {
		t.Fatalf("at MaxZoom: %+v", cs)
	}
	// MinCount and CellSize are honoured.
	pts = pts[:0]
	vp.Zoom = MaxZoom - 0.5
	put(0, 0, Online, Online, Online, Online, Online, Online, Online, Online)
	if cs := (&Clustering{}).Bin(pts, &vp, "").Cells; len(cs) != 1 || !cs[0].Aggregated {
		t.Fatalf("below MaxZoom: %+v", cs)
	}
	if cs := (&Clustering{MinCount: 9}).Bin(pts, &vp, "").Cells; len(cs) != 1 || cs[0].Aggregated {
		t.Fatalf("8 drivers with MinCount 9: %+v", cs)
	}
	if res := (&Clustering{CellSize: 2}).Bin(pts, &vp, ""); res.CellSize != minCellSize {
		t.Fatalf("cell size %v", res.CellSize)
	}
}

func TestBinKeepsTheSelectedDriver(t *testing.T) {
	vp := NewViewport(12.97, 77.59, 12, 640, 480)
	pts := make([]Point, 0, 41)
	for i := 0; i < 40; i++ { // a dense group around the centre
		pts = append(pts, pointAt(&vp, fmt.Sprintf("sim-%d", i), 318+float64(i%7), 238+float64(i/7), Online))
	}
	pts = append(pts, pointAt(&vp, "far", 2000, 240, Stale)) // out of view
	var cl Clustering
	res := cl.Bin(pts, &vp, "sim-17")
	if res.Selected != 17 {
		t.Fatalf("Selected = %d, want 17", res.Selected)
	}
	k := res.CellOf[17]
	if c := res.Cells[k]; !c.Selected || !c.Aggregated || res.Dot(17) {
		t.Fatalf("selected driver's cell %+v, Dot %v", c, res.Dot(17))
	}
	for j, c := range res.Cells {
		if c.Selected != (int32(j) == k) {
			t.Fatalf("cell %d Selected %v", j, c.Selected)
		}
	}
	if res := cl.Bin(pts, &vp, "far"); res.Selected != -1 {
		t.Fatalf("a selected driver out of view: Selected %d", res.Selected)
	}
	if res := cl.Bin(pts, &vp, ""); res.Selected != -1 {
		t.Fatalf("no selection: Selected %d", res.Selected)
	}
}

// The grid is anchored to the world: panning does not move drivers between
// cells (it only changes which cells are in view).
func TestBinCellsStayWhenPanning(t *testing.T) {
	vp := NewViewport(52.52, 13.40, 13.2, 800, 600)
	pts := randomPoints(&vp, 2000, 3)
	var cl Clustering
	cellOf := func(v *Viewport) map[string][2]int {
		res := cl.Bin(pts, v, "")
		m := map[string][2]int{}
		for i, p := range pts {
			if k := res.CellOf[i]; k >= 0 {
				m[p.ID] = [2]int{res.Cells[k].Col, res.Cells[k].Row}
			}
		}
		return m
	}
	before := cellOf(&vp)
	panned := vp
	panned.Pan(17.3, -29.9)
	after := cellOf(&panned)
	same := 0
	for id, c := range after {
		if b, ok := before[id]; ok {
			same++
			if b != c {
				t.Fatalf("%s moved from cell %v to %v by panning", id, b, c)
			}
		}
	}
	if same < 1000 {
		t.Fatalf("only %d drivers in view both times", same)
	}
}

func TestBinEdgeCases(t *testing.T) {
	var cl Clustering
	vp := NewViewport(0, 0, 3, 0, 0)
	pts := []Point{{ID: "a", X: 0.5, Y: 0.5}, {ID: "nan", X: math.NaN(), Y: 0.5}}
	if res := cl.Bin(pts, &vp, "a"); len(res.Cells) != 0 || res.CellOf[0] != -1 || res.Selected != -1 {
		t.Fatalf("an empty view: %+v", res)
	}
	vp = NewViewport(0, 0, 3, 300, 200)
	res := cl.Bin(pts, &vp, "a")
	if len(res.Cells) != 1 || res.CellOf[1] != -1 || res.InView != 1 || res.Selected != 0 {
		t.Fatalf("NaN position: %+v", res)
	}
	if res := cl.Bin(nil, &vp, ""); len(res.Cells) != 0 || len(res.CellOf) != 0 {
		t.Fatalf("no points: %+v", res)
	}
	// The right and bottom edges are out, the left and top edges in.
	edge := []Point{pointAt(&vp, "l", 0, 0, Online), pointAt(&vp, "r", 300, 10, Online), pointAt(&vp, "b", 10, 200, Online)}
	if res := cl.Bin(edge, &vp, ""); res.InView != 1 || res.CellOf[0] < 0 {
		t.Fatalf("edges: %+v", res)
	}
}

func TestBinDoesNotAllocate(t *testing.T) {
	vp := NewViewport(12.97, 77.59, 12.3, 740, 640)
	pts := randomPoints(&vp, fleetSize, 1)
	var cl Clustering
	cl.Bin(pts, &vp, "sim-5")
	if n := testing.AllocsPerRun(20, func() { cl.Bin(pts, &vp, "sim-5") }); n != 0 {
		t.Fatalf("Bin allocates %v times per call", n)
	}
}
