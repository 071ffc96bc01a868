package geo

import (
	"encoding/binary"
	"math"
)

// NeedsFix reports whether wkb needs the slow path on ingest: parsing,
// Fix, Validate and MarshalWKB. It returns false only for little-endian ISO
// WKB (2-D, no SRID) of a valid geometry that Fix, with default options,
// would return unchanged: every position finite and off the antimeridian
// and the poles, no edge longer than 180° in longitude, no near-duplicate
// consecutive positions, rings closed with at least four positions,
// exteriors counter-clockwise and holes clockwise. Anything else — other
// encodings included — answers true.
//
// Almost every footprint takes this path, which reads the bytes once and
// allocates nothing, so fixing on ingest costs next to nothing in the
// common case.
func NeedsFix(wkb []byte) bool {
	rest, ok := fastGeom(wkb, 0)
	return !ok || len(rest) != 0
}

// fastGeom checks one geometry and returns the bytes after it.
func fastGeom(b []byte, depth int) ([]byte, bool) {
	if len(b) < 5 || b[0] != 1 || depth > 1 {
		return nil, false
	}
	typ := binary.LittleEndian.Uint32(b[1:])
	b = b[5:]
	switch typ {
	case 1: // Point
		if len(b) < 16 {
			return nil, false
		}
		if !fastPos(b) {
			return nil, false
		}
		return b[16:], true
	case 2: // LineString
		return fastPath(b, false, 0)
	case 3: // Polygon
		n, b, ok := count(b)
		if !ok || n == 0 {
			return nil, false
		}
		for r := range n {
			want := 1
			if r > 0 {
				want = -1
			}
			if b, ok = fastPath(b, true, want); !ok {
				return nil, false
			}
		}
		return b, true
	case 4, 5, 6: // MultiPoint, MultiLineString, MultiPolygon
		n, b, ok := count(b)
		if !ok || n == 0 {
			return nil, false
		}
		for range n {
			if len(b) < 5 || binary.LittleEndian.Uint32(b[1:]) != typ-3 {
				return nil, false
			}
			if b, ok = fastGeom(b, depth+1); !ok {
				return nil, false
			}
		}
		return b, true
	}
	return nil, false
}

func count(b []byte) (int, []byte, bool) {
	if len(b) < 4 {
		return 0, nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	// Each element needs at least 4 bytes: a bound against absurd counts.
	if uint64(n)*4 > uint64(len(b)-4) {
		return 0, nil, false
	}
	return int(n), b[4:], true
}

// fastPos checks one position: finite, off the seam and the poles.
func fastPos(b []byte) bool {
	lon := math.Float64frombits(binary.LittleEndian.Uint64(b))
	lat := math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
	// NaN fails every comparison, so these also reject NaN and ±Inf.
	return lon > -180+seamSnap && lon < 180-seamSnap && lat > -90 && lat < 90
}

// fastPath checks a line string, or a ring with winding want (1: counter-
// clockwise, -1: clockwise).
//
// The loop indexes the coordinates instead of re-slicing (which costs a
// pointer mask per step) and keeps its tests few: one per coordinate
// range, one per edge. It runs for every footprint on ingest.
func fastPath(b []byte, ring bool, want int) ([]byte, bool) {
	n, b, ok := count(b)
	if !ok || len(b) < 16*n || n < 2 || (ring && n < 4) {
		return nil, false
	}
	pts := b[:16*n]
	pLon, pLat := coord(pts, 0)
	// NaN fails every comparison, so these also reject NaN and ±Inf.
	if !(math.Abs(pLon) < 180-seamSnap && math.Abs(pLat) < 90) {
		return nil, false
	}
	var area float64
	ppLon, ppLat := math.NaN(), math.NaN() // the position before the previous
	end := len(pts) - 16                   // the last position is checked after the loop
	for i := 16; i <= end; i += 16 {
		lon, lat := coord(pts, i)
		if !(math.Abs(lon) < 180-seamSnap && math.Abs(lat) < 90 && math.Abs(lon-pLon) < 180) {
			return nil, false
		}
		// A near-duplicate of the previous position, except that a ring's
		// closing position repeats its first (checked below).
		if math.Abs(lon-pLon) <= dupTol && math.Abs(lat-pLat) <= dupTol && !(ring && i == end) {
			return nil, false
		}
		// A ring vertex whose neighbours nearly coincide is a zero-width
		// spike, which Fix refuses (NaN before the second step: no test).
		if ring && math.Abs(lon-ppLon) <= dupTol && math.Abs(lat-ppLat) <= dupTol {
			return nil, false
		}
		area += pLon*lat - lon*pLat
		ppLon, ppLat, pLon, pLat = pLon, pLat, lon, lat
	}
	if ring {
		first, last := pts[:16], pts[end:]
		if binary.LittleEndian.Uint64(first) != binary.LittleEndian.Uint64(last) ||
			binary.LittleEndian.Uint64(first[8:]) != binary.LittleEndian.Uint64(last[8:]) {
			return nil, false
		}
		// The closing position must not also nearly repeat the one before,
		// and the first vertex must be no spike either (its neighbours are
		// the second and the one before the closing position).
		plon, plat := coord(pts, end-16)
		flon, flat := coord(pts, 0)
		slon, slat := coord(pts, 16)
		if math.Abs(plon-flon) <= dupTol && math.Abs(plat-flat) <= dupTol ||
			math.Abs(plon-slon) <= dupTol && math.Abs(plat-slat) <= dupTol {
			return nil, false
		}
		if (want > 0 && area <= 0) || (want < 0 && area >= 0) {
			return nil, false
		}
	}
	return b[16*n:], true
}

// coord reads the position at b[i:i+16].
func coord(b []byte, i int) (lon, lat float64) {
	c := b[i : i+16 : i+16]
	return math.Float64frombits(binary.LittleEndian.Uint64(c)), math.Float64frombits(binary.LittleEndian.Uint64(c[8:]))
}
