package geo

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
)

// TestNeedsFixAgreesWithFix: whenever the fast check says a geometry needs
// nothing, Fix and Validate must agree — Fix returns the same bytes.
func TestNeedsFixAgreesWithFix(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	fast := 0
	for i := range 5000 {
		g := randomShape(rng, i)
		wkb, err := MarshalWKB(g)
		if err != nil {
			t.Fatal(err)
		}
		if NeedsFix(wkb) {
			continue
		}
		fast++
		if err := Validate(g); err != nil {
			t.Fatalf("fast path accepted an invalid geometry %s: %v", WKT(g), err)
		}
		fixed, _, err := Fix(g)
		if err != nil {
			t.Fatalf("fast path accepted %s, Fix fails: %v", WKT(g), err)
		}
		again, _ := MarshalWKB(fixed)
		if !bytes.Equal(again, wkb) {
			t.Fatalf("fast path kept %s, Fix changes it to %s", WKT(g), WKT(fixed))
		}
	}
	if fast < 1000 {
		t.Fatalf("only %d of 5000 shapes took the fast path", fast)
	}
}

func TestNeedsFixCases(t *testing.T) {
	sq := func(lon, lat, d float64) orb.Ring {
		return orb.Ring{{lon, lat}, {lon + d, lat}, {lon + d, lat + d}, {lon, lat + d}, {lon, lat}}
	}
	cw := sq(10, 50, 2).Clone()
	cw.Reverse()
	cases := []struct {
		name string
		g    orb.Geometry
		want bool
	}{
		{"ccw box", orb.Polygon{sq(10, 50, 2)}, false},
		{"cw box", orb.Polygon{cw}, true},
		{"crossing", orb.Polygon{{{170, -10}, {-170, -10}, {-170, 10}, {170, 10}, {170, -10}}}, true},
		{"vertex on 180", orb.Polygon{{{170, 0}, {180, 0}, {180, 5}, {170, 5}, {170, 0}}}, true},
		{"pole vertex", orb.Polygon{{{0, 80}, {10, 80}, {10, 90}, {0, 80}}}, true},
		{"unclosed", orb.Polygon{{{0, 0}, {1, 0}, {1, 1}, {0, 1}}}, true},
		{"point", orb.Point{13.4, 52.5}, false},
		{"point lat 91", orb.Point{13.4, 91}, true},
		{"line", orb.LineString{{0, 0}, {10, 10}}, false},
		{"line crossing", orb.LineString{{170, 0}, {-170, 0}}, true},
		{"multipolygon", orb.MultiPolygon{{sq(0, 0, 1)}, {sq(5, 5, 1)}}, false},
		{"duplicate vertex", orb.Polygon{{{0, 0}, {1, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}}}, true},
	}
	for _, c := range cases {
		b, _ := MarshalWKB(c.g)
		if got := NeedsFix(b); got != c.want {
			t.Errorf("%s: NeedsFix = %v, want %v", c.name, got, c.want)
		}
	}
	for _, junk := range [][]byte{nil, {1}, {0, 0, 0, 0, 3}, {1, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}} {
		if !NeedsFix(junk) {
			t.Errorf("junk %x took the fast path", junk)
		}
	}
}

func randomShape(rng *rand.Rand, i int) orb.Geometry {
	lon := -200 + rng.Float64()*400
	lat := -95 + rng.Float64()*190
	d := rng.Float64() * 30
	r := orb.Ring{{lon, lat}, {lon + d, lat + rng.Float64()}, {lon + d, lat + d}, {lon - rng.Float64(), lat + d}, {lon, lat}}
	if rng.IntN(3) == 0 {
		r.Reverse()
	}
	switch i % 4 {
	case 0:
		return orb.Polygon{r}
	case 1:
		return orb.LineString(r[:3])
	case 2:
		return orb.MultiPolygon{{r}}
	}
	return orb.Point{lon, lat}
}

func BenchmarkNeedsFix(b *testing.B) {
	g := orb.Polygon{{{10, 50}, {12, 50.5}, {12.5, 52}, {10.2, 51.8}, {10, 50}}}
	wkb, _ := MarshalWKB(g)
	for b.Loop() {
		if NeedsFix(wkb) {
			b.Fatal("needs fix")
		}
	}
}

// FuzzNeedsFix: the fast path (NeedsFix false) skips parsing, fixing and
// validation on ingest, so whatever it lets through must parse, validate
// and be its own fixed form, byte for byte.
func FuzzNeedsFix(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 64 {
		b, _ := MarshalWKB(randomShape(rng, i))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastPath(t, b)
	})
}

// checkFastPath fails t unless b needs the slow path, or parses, validates
// and is its own fixed form, byte for byte.
func checkFastPath(t *testing.T, b []byte) {
	t.Helper()
	if NeedsFix(b) {
		return
	}
	g, err := ParseWKB(b)
	if err != nil {
		t.Fatalf("fast path took %x, which does not parse: %v", b, err)
	}
	if err := Validate(g); err != nil {
		t.Fatalf("fast path took an invalid %s: %v", WKT(g), err)
	}
	fixed, _, err := Fix(g)
	if err != nil {
		t.Fatalf("fast path took %s, Fix fails: %v", WKT(g), err)
	}
	if again, _ := MarshalWKB(fixed); !bytes.Equal(again, b) {
		t.Fatalf("fast path kept %x (%s), Fix makes %s", b, WKT(g), WKT(fixed))
	}
}

// FuzzNeedsFixRings: as FuzzNeedsFix, for polygons built from small
// integer grids, where duplicates, spikes, collinear runs, windings and
// near-seam positions are common.
func FuzzNeedsFixRings(f *testing.F) {
	f.Add([]byte{0, 0, 10, 0, 10, 10, 0, 10}, byte(0))
	f.Add([]byte{0, 0, 5, 0, 0, 0, 0, 5}, byte(1))
	f.Fuzz(func(t *testing.T, xy []byte, mode byte) {
		if len(xy) < 6 || len(xy) > 64 {
			return
		}
		scale := []float64{1, 0.5e-9, 10, 1e-3}[mode%4]
		var ring orb.Ring
		for i := 0; i+1 < len(xy); i += 2 {
			ring = append(ring, orb.Point{float64(int8(xy[i])) * scale, float64(int8(xy[i+1])) * scale * 0.7})
		}
		if mode&4 != 0 {
			for i := range ring {
				ring[i][0] += 179.5 // near the seam
			}
		}
		ring = append(ring, ring[0])
		if b, err := MarshalWKB(orb.Polygon{ring}); err == nil {
			checkFastPath(t, b)
		}
	})
}
