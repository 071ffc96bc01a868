package geo

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/paulmach/orb"
)

// Canonical comparison of fixed geometries, as the conformance README asks:
// ring start, ring direction, hole order and polygon order do not matter;
// vertices match within vertexTol; ±180 keep their sign.

const vertexTol = 1e-6

type canonPoly [][]orb.Point // rings: [0] exterior, then sorted holes

func cmpPoint(a, b orb.Point) int {
	for i := range 2 {
		if math.Abs(a[i]-b[i]) <= vertexTol {
			continue
		}
		if a[i] < b[i] {
			return -1
		}
		return 1
	}
	return 0
}

func cmpSeq(a, b []orb.Point) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := cmpPoint(a[i], b[i]); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

// canonRing drops the closing vertex and repeats, then picks the smallest of
// all rotations of both directions.
func canonRing(r []orb.Point) []orb.Point {
	var pts []orb.Point
	for _, p := range r {
		if len(pts) > 0 && math.Abs(pts[len(pts)-1][0]-p[0]) <= 1e-9 && math.Abs(pts[len(pts)-1][1]-p[1]) <= 1e-9 {
			continue
		}
		pts = append(pts, p)
	}
	for len(pts) > 1 && math.Abs(pts[len(pts)-1][0]-pts[0][0]) <= 1e-9 && math.Abs(pts[len(pts)-1][1]-pts[0][1]) <= 1e-9 {
		pts = pts[:len(pts)-1]
	}
	var best []orb.Point
	for _, seq := range [][]orb.Point{pts, reversed(pts)} {
		for s := range seq {
			rot := append(append([]orb.Point(nil), seq[s:]...), seq[:s]...)
			if best == nil || cmpSeq(rot, best) < 0 {
				best = rot
			}
		}
	}
	return best
}

func canonPolygons(g orb.Geometry) []canonPoly {
	var polys []orb.Polygon
	switch g := g.(type) {
	case orb.Polygon:
		polys = []orb.Polygon{g}
	case orb.MultiPolygon:
		polys = g
	default:
		return nil
	}
	out := make([]canonPoly, 0, len(polys))
	for _, p := range polys {
		cp := canonPoly{canonRing(p[0])}
		var holes [][]orb.Point
		for _, h := range p[1:] {
			holes = append(holes, canonRing(h))
		}
		sort.Slice(holes, func(i, j int) bool { return cmpSeq(holes[i], holes[j]) < 0 })
		out = append(out, append(cp, holes...))
	}
	sort.Slice(out, func(i, j int) bool { return cmpSeq(out[i][0], out[j][0]) < 0 })
	return out
}

func canonLines(g orb.Geometry) [][]orb.Point {
	var out [][]orb.Point
	switch g := g.(type) {
	case orb.LineString:
		out = [][]orb.Point{g}
	case orb.MultiLineString:
		for _, l := range g {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return cmpSeq(out[i], out[j]) < 0 })
	return out
}

// sameGeometry reports whether got and want are the same set of pieces; the
// string says where they first differ.
func sameGeometry(got, want orb.Geometry) (bool, string) {
	switch want.(type) {
	case orb.LineString, orb.MultiLineString:
		a, b := canonLines(got), canonLines(want)
		if len(a) != len(b) {
			return false, fmt.Sprintf("%d line parts, want %d", len(a), len(b))
		}
		for i := range a {
			if cmpSeq(a[i], b[i]) != 0 {
				return false, fmt.Sprintf("line %d: got %v want %v", i, a[i], b[i])
			}
		}
		return true, ""
	}
	a, b := canonPolygons(got), canonPolygons(want)
	if a == nil {
		return false, fmt.Sprintf("got %T, want polygonal", got)
	}
	if len(a) != len(b) {
		return false, fmt.Sprintf("%d polygons, want %d\n got  %s\n want %s", len(a), len(b), describe(a), describe(b))
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false, fmt.Sprintf("polygon %d: %d rings, want %d", i, len(a[i]), len(b[i]))
		}
		for r := range a[i] {
			if cmpSeq(a[i][r], b[i][r]) != 0 {
				return false, fmt.Sprintf("polygon %d ring %d:\n got  %v\n want %v", i, r, a[i][r], b[i][r])
			}
		}
	}
	return true, ""
}

func describe(ps []canonPoly) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("[%d rings, %d vertices, first %v]", len(p), len(p[0]), p[0][0]))
	}
	return strings.Join(parts, " ")
}
