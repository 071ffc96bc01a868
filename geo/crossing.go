package geo

import "math"

// crossingLat is the latitude at which the edge a→b meets the antimeridian.
// An endpoint already on the seam is the crossing. Otherwise it is the point
// on the great circle through a and b (or, with flat, on the straight lon/lat
// line), rounded to 1e-7° (~1 cm): the reference implementation rounds the
// same way, so results compare vertex for vertex, and the two copies of the
// crossing on either side of the cut are bit-identical by construction.
func crossingLat(a, b vtx, flat bool) float64 {
	if a.seam {
		return a.lat
	}
	if b.seam {
		return b.lat
	}
	var lat float64
	if flat {
		lat = flatCrossingLat(a, b)
	} else {
		lat = greatCircleCrossingLat(a, b)
	}
	return math.Round(lat*1e7) / 1e7
}

// flatCrossingLat interpolates linearly after unwrapping b's longitude next to
// a's, so that the edge is the short way round, through ±180.
func flatCrossingLat(a, b vtx) float64 {
	seam, bl := 180.0, b.lon+360
	if a.lon < 0 {
		seam, bl = -180, b.lon-360
	}
	t := (seam - a.lon) / (bl - a.lon)
	return a.lat + t*(b.lat-a.lat)
}

// greatCircleCrossingLat intersects the plane of the edge's great circle with
// the plane of the 0/180 meridian (normal +y) and takes the intersection on the
// 180° side (x < 0).
func greatCircleCrossingLat(a, b vtx) float64 {
	ax, ay, az := unitVector(a.lon, a.lat)
	bx, by, bz := unitVector(b.lon, b.lat)
	// n = a × b is the great circle's pole; n × ŷ = (-n.z, 0, n.x).
	nx := ay*bz - az*by
	nz := ax*by - ay*bx
	dx, dz := -nz, nx
	if dx > 0 {
		dx, dz = -dx, -dz
	}
	if dx == 0 && dz == 0 {
		// The edge lies in the meridian plane itself; the straight line is as
		// good an answer as any.
		return flatCrossingLat(a, b)
	}
	return math.Atan2(dz, -dx) * 180 / math.Pi
}

func unitVector(lonDeg, latDeg float64) (x, y, z float64) {
	lon, lat := lonDeg*math.Pi/180, latDeg*math.Pi/180
	cl := math.Cos(lat)
	return cl * math.Cos(lon), cl * math.Sin(lon), math.Sin(lat)
}
