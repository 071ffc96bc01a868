package geo

import (
	"testing"

	"github.com/paulmach/orb"
)

// Antimeridian fixing per polygon: a footprint far from the seam, one that
// crosses it, and one that circles a pole. Footprints have 40 vertices, about
// what a granule boundary carries.

func benchFootprint(lonFrom, lonTo, latFrom, latTo float64) orb.Polygon {
	var r orb.Ring
	const n = 10
	for i := range n {
		r = append(r, orb.Point{lonFrom + (lonTo-lonFrom)*float64(i)/n, latFrom})
	}
	for i := range n {
		r = append(r, orb.Point{lonTo, latFrom + (latTo-latFrom)*float64(i)/n})
	}
	for i := range n {
		r = append(r, orb.Point{lonTo - (lonTo-lonFrom)*float64(i)/n, latTo})
	}
	for i := range n {
		r = append(r, orb.Point{lonFrom, latTo - (latTo-latFrom)*float64(i)/n})
	}
	return orb.Polygon{append(r, r[0])}
}

func BenchmarkFix(b *testing.B) {
	polar := ringAt(75, 9) // 40 vertices around the north pole
	for _, c := range []struct {
		name string
		g    orb.Polygon
	}{
		{"simple", benchFootprint(10, 20, 40, 50)},
		{"crossing", benchFootprint(175, 185, 40, 50)},
		{"polar", polar},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Fix(c.g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMatch(b *testing.B) {
	cand := mustFix(b, benchFootprint(175, 185, 40, 50))
	filter := BBoxPolygon(170, 30, -170, 60)
	for _, cs := range []CoordSystem{Cartesian, Spherical} {
		f, err := NewFilter(filter, Intersects, cs)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(cs.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !f.Match(cand) {
					b.Fatal("no match")
				}
			}
		})
	}
}
