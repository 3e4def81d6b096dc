package model_test

import (
	"fmt"
	"slices"

	"github.com/rtls-io/rtls/dashboard/model"
)

func ExampleCompareIDs() {
	ids := []string{"sim-10", "sim-2", "Sim-3", "sim-1", "sim-02"}
	slices.SortFunc(ids, model.CompareIDs)
	fmt.Println(ids)
	// Output: [sim-1 sim-2 sim-02 Sim-3 sim-10]
}

func ExampleClustering_Bin() {
	vp := model.NewViewport(12.97, 77.59, 13, 480, 320)
	var pts []model.Point
	for i := range 6 { // six drivers within a few screen units of the centre
		x, y := vp.FromScreen(240+float64(i), 160)
		st := model.Online
		if i == 4 {
			st = model.Offline
		}
		pts = append(pts, model.Point{ID: fmt.Sprintf("sim-%d", i), X: x, Y: y, Status: st})
	}
	x, y := vp.FromScreen(40, 40) // and one on its own
	pts = append(pts, model.Point{ID: "sim-6", X: x, Y: y, Status: model.Stale})

	var cl model.Clustering // the zero value: 48-unit cells, 5 drivers or more
	res := cl.Bin(pts, &vp, "sim-2")
	for _, c := range res.Cells {
		fmt.Printf("%d driver(s), worst %v, aggregated %v, selected inside %v\n", c.Count, c.Worst, c.Aggregated, c.Selected)
	}
	fmt.Println("sim-6 drawn as a dot:", res.Dot(6))
	// Output:
	// 1 driver(s), worst stale, aggregated false, selected inside false
	// 6 driver(s), worst offline, aggregated true, selected inside true
	// sim-6 drawn as a dot: true
}
