package report

import (
	"fmt"
	"strconv"
	"time"
)

// Sequence diagram layout, in SVG user units (pixels at 100%).
const (
	maxDiagramItems = 400          // arrows, notes and bands drawn before the diagram is cut
	gutterW         = 64           // left column with the times
	laneGap         = 176          // distance between two lifelines: fixed, however many lanes (the diagram scrolls sideways)
	laneBoxH        = 34           // height of a lifeline's name box
	laneBoxMax      = laneGap - 16 // widest lane box: boxes never touch
	rowH            = 26           // vertical space per arrow
	charW           = 6.7          // width of one character of a label (11px monospace), for layout only
	nameCharW       = 7.2          // of a lane's name (600 12px sans-serif), generously
	subCharW        = 6.4          // of the address or role under it (10.5px monospace)
	bandLabelW      = 1180         // a band's label is centred in this much of the band, which the page shows without scrolling
	bottomHeadsMin  = 24           // repeat the lifeline names at the bottom from this many rows
	gapMS           = 500          // a quiet time this long between two rows is marked
)

// diagram is a laid-out sequence diagram, ready for the SVG template.
type diagram struct {
	Width, Height int
	Lanes         []seqLane
	Items         []seqItem
	LifeTop       int // where lifelines start
	LifeBottom    int // and end
	BottomY       int // y of the repeated name boxes, 0 for none
	Truncated     int // events not drawn
	TruncY        int
	GutterX       int // right edge of the times
	GutterW       int // width of the time gutter, which stays in view as the diagram scrolls
	HeadY         int // y of the "ms" caption
	HeadH         int // height of the lane names at the top, which stay in view as the diagram scrolls
	Empty         bool
}

// seqLane is one lifeline.
type seqLane struct {
	X          int
	BoxX, BoxW int
	Name       string // shown, maybe shortened
	Full       string // the name in full
	Tip        string // tooltip: the name and the address or role, in full
	Sub        string // address or role, under the name
	Class      string // "actor", "dns", "host"
}

// seqItem is one row of the diagram: an arrow, a note, a band, or a gap
// marker.
type seqItem struct {
	Kind   string // "arrow", "note", "band", "gap"
	Y      int
	Time   string // ms since start, for the gutter
	Class  string // "", "err", "ok", "warn", "dns", "info"
	Tip    string // tooltip: the full text
	Label  string
	LabelX int
	LabelY int
	TimeY  int

	// Arrows.
	X1, X2 int
	Dashed bool
	Head   string // arrowhead polygon points
	Cross  string // path of an X at the end ("refused"), "" for none

	// Notes and bands.
	BoxX, BoxY, BoxW int
}

// Runes of a lane's name and of the address or role under it that fit in
// the widest lane box (with its padding of 20 and 10).
const (
	laneNameMax = 19 // (laneBoxMax-20)/nameCharW
	laneSubMax  = 23 // (laneBoxMax-10)/subCharW
)

// laneX is the x of the i-th lifeline.
func laneX(i int) int { return gutterW + 70 + i*laneGap }

// layoutDiagram places lanes and steps: the lanes side by side, then each
// step's marks one row below the other from the top, in journal order,
// with a marker before a row that follows a quiet time of gapMS or more.
// Times in the gutter are milliseconds since start. At maxDiagramItems
// rows the diagram is cut and says how many events it left out.
func layoutDiagram(lanes laneSet, steps []step, start time.Time) *diagram {
	d := &diagram{GutterX: gutterW - 10, GutterW: gutterW, HeadY: 12 + laneBoxH - 4, HeadH: 12 + laneBoxH + 4}
	d.Width = laneX(len(lanes.names)-1) + 100
	for i, name := range lanes.names {
		// A name or an address too long for its box is shortened; the
		// box's tooltip has both in full.
		show := truncate(name, laneNameMax)
		sub := truncate(lanes.subs[i], laneSubMax)
		x := laneX(i)
		w := min(max(int(float64(len([]rune(show)))*nameCharW)+20, int(float64(len([]rune(sub)))*subCharW)+10, 80), laneBoxMax)
		tip := name
		if lanes.subs[i] != "" {
			tip += "\n" + lanes.subs[i]
		}
		d.Lanes = append(d.Lanes, seqLane{X: x, BoxX: x - w/2, BoxW: w, Name: show, Full: name, Tip: tip,
			Sub: sub, Class: lanes.classes[i]})
	}

	y := 12 + laneBoxH + 14
	d.LifeTop = 12 + laneBoxH
	last := -1.0 // time of the last row, -1 before the first
	// add places it in the next row, after a gap marker if one is due; it
	// returns false, placing nothing, when the diagram is full.
	add := func(ms float64, it seqItem, cross bool) bool {
		if len(d.Items) >= maxDiagramItems {
			return false
		}
		if last >= 0 && ms-last >= gapMS && len(d.Items)+1 < maxDiagramItems {
			// A long quiet time (a greylist window, a retry backoff) gets
			// a marker, so the eye does not read the rows as back to back.
			y += rowH * 3 / 4
			d.Items = append(d.Items, seqItem{Kind: "gap", Y: y, Label: "⋮ " + quiet(ms-last) + " later",
				LabelX: gutterW + 4, LabelY: y + 4})
		}
		last = ms
		y += rowH
		it.Y = y
		it.Time = strconv.FormatFloat(ms, 'f', 1, 64)
		d.place(&it, cross)
		d.Items = append(d.Items, it)
		return true
	}

	// Folded reply lines count as not drawn when the diagram is cut.
	drawn := 0
	for _, st := range steps {
		if st.Folded {
			continue
		}
		ms := sinceMS(st.Event, start)
		full := false
		for _, m := range st.Marks {
			if full = !add(ms, lanes.item(m), m.Cross); full {
				break
			}
		}
		if full {
			d.Truncated = len(steps) - drawn
			break
		}
		drawn++
	}
	if len(d.Items) == 0 {
		d.Empty = true
		y += rowH
	}
	y += rowH / 2
	if d.Truncated > 0 {
		y += rowH
		d.TruncY = y
	}
	d.LifeBottom = y + 8
	if len(d.Items) >= bottomHeadsMin {
		d.BottomY = d.LifeBottom
		d.Height = d.BottomY + laneBoxH + 12
	} else {
		d.Height = d.LifeBottom + 12
	}
	return d
}

// item returns m as a row of the diagram between its lanes' lifelines,
// not yet placed (see place).
func (l laneSet) item(m mark) seqItem {
	it := seqItem{Kind: m.Kind, Label: m.Label, Class: m.Class, Tip: m.Tip, Dashed: m.Dashed}
	if m.Kind == "band" {
		return it
	}
	x1, x2 := laneX(l.index[m.From]), laneX(l.index[m.To])
	if m.Kind == "note" {
		x1, x2 = min(x1, x2), max(x1, x2)
	}
	it.X1, it.X2 = x1, x2
	return it
}

// place fills the drawing coordinates of it from its ends and its row:
// an arrowhead, or an X when cross; label and box positions kept inside
// the drawing.
func (d *diagram) place(it *seqItem, cross bool) {
	lw := int(float64(len([]rune(it.Label)))*charW) + 4
	it.TimeY = it.Y + 4
	it.LabelY = it.Y - 6
	it.BoxY = it.Y - 11
	switch it.Kind {
	case "arrow":
		dir := 1
		if it.X2 < it.X1 {
			dir = -1
		}
		x2 := it.X2 - dir
		it.Head = fmt.Sprintf("%d,%d %d,%d %d,%d", x2, it.Y, x2-dir*9, it.Y-4, x2-dir*9, it.Y+4)
		if cross {
			cx := it.X2 - dir*6
			it.Head = ""
			it.Cross = fmt.Sprintf("M%d %dL%d %dM%d %dL%d %d", cx-5, it.Y-5, cx+5, it.Y+5, cx-5, it.Y+5, cx+5, it.Y-5)
		}
		// On an arrow across more than two lanes, the label goes near
		// the end further right, the host's: the middle of a long arrow
		// may be scrolled out of sight when the host is in view.
		cx := (it.X1 + it.X2) / 2
		if lo, hi := min(it.X1, it.X2), max(it.X1, it.X2); hi-lo > 2*laneGap {
			cx = hi - laneGap/2
		}
		it.LabelX = d.clampLabel(cx, lw)
	case "note":
		w := lw + 16
		mid := (it.X1 + it.X2) / 2
		it.BoxW = w
		it.BoxX = d.clampBox(mid-w/2, w)
		it.LabelX = it.BoxX + w/2
		it.LabelY = it.Y + 4
	case "band":
		it.BoxX = gutterW
		it.BoxW = d.Width - gutterW - 8
		it.LabelX = it.BoxX + min(it.BoxW, bandLabelW)/2
		it.LabelY = it.Y + 4
	}
}

// clampLabel keeps a centred label of width w inside the drawing, right of
// the time gutter.
func (d *diagram) clampLabel(cx, w int) int {
	lo, hi := gutterW+4+w/2, d.Width-4-w/2
	if hi < lo {
		return lo
	}
	return min(max(cx, lo), hi)
}

// quiet renders a quiet time in milliseconds: "740 ms", "2.0 s".
func quiet(ms float64) string {
	if ms < 1000 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f s", ms/1000)
}

// clampBox keeps a box of width w starting at x inside the drawing.
func (d *diagram) clampBox(x, w int) int {
	return max(gutterW+4, min(x, d.Width-4-w))
}
