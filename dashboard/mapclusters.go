package dashboard

import (
	"image"
	"image/color"
	"math"
	"strconv"

	"github.com/rtls-io/rtls/dashboard/model"
)

var (
	colCountLight = color.RGBA{0xff, 0xff, 0xff, 0xff}
	colCountDark  = color.RGBA{0x22, 0x22, 0x22, 0xff}
)

// clusterRadius is the radius in screen units of an aggregated cell's disc:
// it grows with the count's order of magnitude (12 for 5 drivers, 21 for
// 5,000), and stays below half a cell.
func clusterRadius(count int) float64 {
	return 10 + 3*math.Log10(float64(max(count, 1)))
}

// countLabel is a count as a cluster shows it: "7", "482", "1.2k", "12k".
// It never rounds up.
func countLabel(n int) string {
	switch {
	case n < 1000:
		return strconv.Itoa(n)
	case n < 10000:
		return strconv.Itoa(n/1000) + "." + strconv.Itoa(n/100%10) + "k"
	}
	return strconv.Itoa(n/1000) + "k"
}

// countColour is the label's colour on a disc of state st's colour: dark
// on the light stale orange, white otherwise.
func countColour(st model.State) color.RGBA {
	if st == model.Stale {
		return colCountDark
	}
	return colCountLight
}

// paintCluster draws an aggregated cell: a disc at its centroid in the
// colour of its worst state, with a white rim (the selection colour when
// the selected driver is inside) and its count.
func (f *mapFrame) paintCluster(img *image.RGBA, c *model.Cell) {
	x, y := f.toPixels(c.X, c.Y)
	r := clusterRadius(c.Count) * f.scale
	rim := colOutline
	if c.Selected {
		rim = colSelected
	}
	fillCircle(img, x, y, r+math.Max(1.5, 2*f.scale), rim)
	fillCircle(img, x, y, r, StatusColour(c.Worst))
	drawLabel(img, countLabel(c.Count), x, y, r, f.scale, countColour(c.Worst))
}

// The count's font: 3×5 pixel glyphs (rows top to bottom, bit 2 the left
// column), scaled by a whole number so they stay crisp.
var glyphs = map[byte][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7},
	'4': {5, 5, 7, 1, 1}, '5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 1, 1, 1},
	'8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7}, 'k': {4, 5, 6, 5, 5}, '.': {0, 0, 0, 0, 2},
}

// glyphWidth is a glyph's width in font pixels: the dot is narrow.
func glyphWidth(b byte) int {
	if b == '.' {
		return 1
	}
	return 3
}

// drawLabel draws text centred on (cx, cy) in a disc of radius r pixels:
// two image pixels per font pixel per screen unit, fewer when the text
// would not fit in the disc.
func drawLabel(img *image.RGBA, text string, cx, cy, r, scale float64, c color.RGBA) {
	units := len(text) - 1 // one font pixel between glyphs
	for i := 0; i < len(text); i++ {
		units += glyphWidth(text[i])
	}
	s := max(1, int(math.Round(2*scale)))
	for s > 1 && float64(units*s) > 1.5*r {
		s--
	}
	x := int(math.Round(cx)) - units*s/2
	y := int(math.Round(cy)) - 5*s/2
	for i := 0; i < len(text); i++ {
		g, w := glyphs[text[i]], glyphWidth(text[i])
		shift := 3 - w // the dot's bit is in the middle column
		for row, bits := range g {
			for col := 0; col < w; col++ {
				if bits&(4>>(col+shift/2)) != 0 {
					fillRect(img, x+col*s, y+row*s, s, s, c)
				}
			}
		}
		x += (w + 1) * s
	}
}

// fillRect fills the w×h rectangle at (x, y), clipped to img.
func fillRect(img *image.RGBA, x, y, w, h int, c color.RGBA) {
	r := image.Rect(x, y, x+w, y+h).Intersect(img.Bounds())
	for py := r.Min.Y; py < r.Max.Y; py++ {
		row := img.Pix[img.PixOffset(r.Min.X, py):]
		for o := 0; o < r.Dx()*4; o += 4 {
			row[o], row[o+1], row[o+2], row[o+3] = c.R, c.G, c.B, c.A
		}
	}
}
