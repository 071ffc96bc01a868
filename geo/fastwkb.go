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
func fastPath(b []byte, ring bool, want int) ([]byte, bool) {
	n, b, ok := count(b)
	if !ok || len(b) < 16*n {
		return nil, false
	}
	if n < 2 || (ring && n < 4) {
		return nil, false
	}
	pts := b[:16*n]
	// Each coordinate is loaded once; the first position has no edge.
	if !fastPos(pts) {
		return nil, false
	}
	pLon := math.Float64frombits(binary.LittleEndian.Uint64(pts))
	pLat := math.Float64frombits(binary.LittleEndian.Uint64(pts[8:]))
	var area float64
	rest := pts[16:]
	for i := 1; len(rest) >= 16; i++ {
		lon := math.Float64frombits(binary.LittleEndian.Uint64(rest))
		lat := math.Float64frombits(binary.LittleEndian.Uint64(rest[8:]))
		rest = rest[16:]
		// NaN fails every comparison, so this also rejects NaN and ±Inf.
		if !(math.Abs(lon) < 180-seamSnap && math.Abs(lat) < 90) {
			return nil, false
		}
		dLon := math.Abs(lon - pLon)
		if !(dLon < 180) {
			return nil, false
		}
		if dLon <= dupTol && math.Abs(lat-pLat) <= dupTol && !(ring && i == n-1) {
			return nil, false
		}
		area += pLon*lat - lon*pLat
		pLon, pLat = lon, lat
	}
	if ring {
		first := pts[:16]
		last := pts[16*(n-1) : 16*n]
		if binary.LittleEndian.Uint64(first) != binary.LittleEndian.Uint64(last) ||
			binary.LittleEndian.Uint64(first[8:]) != binary.LittleEndian.Uint64(last[8:]) {
			return nil, false
		}
		// The closing position must not also nearly repeat the one before.
		prev := pts[16*(n-2):]
		plon := math.Float64frombits(binary.LittleEndian.Uint64(prev))
		plat := math.Float64frombits(binary.LittleEndian.Uint64(prev[8:]))
		flon := math.Float64frombits(binary.LittleEndian.Uint64(first))
		flat := math.Float64frombits(binary.LittleEndian.Uint64(first[8:]))
		if math.Abs(plon-flon) <= dupTol && math.Abs(plat-flat) <= dupTol {
			return nil, false
		}
		if (want > 0 && area <= 0) || (want < 0 && area >= 0) {
			return nil, false
		}
	}
	return b[16*n:], true
}
