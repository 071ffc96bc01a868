package geo

import "github.com/paulmach/orb"

// parts is a geometry flattened into its polygons, lines and points, the form
// the predicates work on. A multi-geometry or collection is the union of its
// members.
type parts struct {
	polys  []orb.Polygon
	lines  []orb.LineString
	points []orb.Point
}

func (p *parts) empty() bool {
	return len(p.polys) == 0 && len(p.lines) == 0 && len(p.points) == 0
}

func flatten(g orb.Geometry) parts {
	var p parts
	p.add(g)
	return p
}

func (p *parts) add(g orb.Geometry) {
	switch g := g.(type) {
	case orb.Point:
		p.points = append(p.points, g)
	case orb.MultiPoint:
		p.points = append(p.points, g...)
	case orb.LineString:
		if len(g) > 0 {
			p.lines = append(p.lines, g)
		}
	case orb.MultiLineString:
		for _, l := range g {
			p.add(l)
		}
	case orb.Ring:
		p.add(orb.Polygon{g})
	case orb.Polygon:
		if len(g) > 0 && len(g[0]) >= 3 {
			p.polys = append(p.polys, g)
		}
	case orb.MultiPolygon:
		for _, q := range g {
			p.add(q)
		}
	case orb.Bound:
		p.add(g.ToPolygon())
	case orb.Collection:
		for _, m := range g {
			p.add(m)
		}
	}
}

// vertices yields every position of every part.
func (p *parts) vertices(fn func(orb.Point) bool) bool {
	for _, q := range p.points {
		if !fn(q) {
			return false
		}
	}
	for _, l := range p.lines {
		for _, q := range l {
			if !fn(q) {
				return false
			}
		}
	}
	for _, poly := range p.polys {
		for _, r := range poly {
			for _, q := range r {
				if !fn(q) {
					return false
				}
			}
		}
	}
	return true
}

// chains yields the lines and then every polygon ring, as point sequences
// whose consecutive pairs are edges (rings include their closing edge).
func (p *parts) chains(withLines, withRings bool, fn func([]orb.Point) bool) bool {
	if withLines {
		for _, l := range p.lines {
			if !fn(l) {
				return false
			}
		}
	}
	if withRings {
		for _, poly := range p.polys {
			for _, r := range poly {
				if !fn(closeRing(r)) {
					return false
				}
			}
		}
	}
	return true
}
