package geo

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNot2D is wrapped by the errors for geometries with Z or M ordinates.
// granary stores 2-D geometries; Force2D drops the extra ordinates when a
// user asks for it, never silently.
var ErrNot2D = errors.New("Z/M coordinates are not supported (2-D only)")

// ewkbSRIDFlag marks an EWKB header followed by a 4-byte SRID.
const ewkbSRIDFlag = 0x20000000

// maxWKBDepth bounds the nesting of geometry collections read here.
const maxWKBDepth = 32

// Force2D returns the geometry b (any spelling Parse reads) with its Z and
// M ordinates dropped, as PostGIS's ST_Force2D does, and whether there
// were any. Binary and hex WKB/EWKB come back as little-endian ISO WKB, WKT
// and GeoJSON as text. A geometry without Z or M comes back unchanged
// (changed false). An error means b is malformed or has an SRID other
// than 4326; Parse then reports it.
func Force2D(b []byte) (out []byte, changed bool, err error) {
	if len(b) == 0 {
		return b, false, nil
	}
	if b[0] == 0 || b[0] == 1 {
		return force2DWKB(b)
	}
	text := bytes.TrimSpace(b)
	switch {
	case len(text) == 0:
		return b, false, nil
	case text[0] == '{':
		return force2DGeoJSON(b)
	case isHexWKB(text):
		raw := make([]byte, hex.DecodedLen(len(text)))
		if _, err := hex.Decode(raw, text); err != nil {
			return nil, false, fmt.Errorf("geo: parse hex wkb: %w", err)
		}
		out, changed, err := force2DWKB(raw)
		if err != nil || !changed {
			return b, false, err
		}
		return out, true, nil
	}
	if c := text[0] | 0x20; c < 'a' || c > 'z' {
		return b, false, nil // not WKT, which starts with a keyword or SRID=
	}
	s, changed := force2DWKT(string(b))
	if !changed {
		return b, false, nil
	}
	return []byte(s), true, nil
}

// force2DWKB rewrites WKB/EWKB with Z or M ordinates into 2-D
// little-endian ISO WKB, dropping an EWKB SRID (which must be 0 or 4326).
func force2DWKB(b []byte) ([]byte, bool, error) {
	if len(b) < 5 {
		return b, false, nil
	}
	order, err := wkbOrder(b[0])
	if err != nil {
		return nil, false, err
	}
	if typ := order.Uint32(b[1:5]); typ < 4 {
		// A 2-D point, line string or polygon: nothing nested can differ.
		return b, false, nil
	}
	w := wkbFlattener{out: make([]byte, 0, len(b))}
	rest, err := w.geometry(b, 0)
	if err != nil {
		return nil, false, err
	}
	if len(rest) != 0 {
		return nil, false, fmt.Errorf("geo: parse wkb: %d bytes after the geometry", len(rest))
	}
	if !w.changed {
		return b, false, nil
	}
	return w.out, true, nil
}

type wkbFlattener struct {
	out     []byte
	changed bool // a Z or M ordinate was dropped (byte order and SRID alone do not count)
}

var errWKBShort = errors.New("geo: parse wkb: truncated")

// geometry copies one geometry from b as 2-D little-endian ISO WKB and
// returns the bytes after it.
func (w *wkbFlattener) geometry(b []byte, depth int) ([]byte, error) {
	if depth > maxWKBDepth {
		return nil, fmt.Errorf("geo: parse wkb: collections nested deeper than %d", maxWKBDepth)
	}
	if len(b) < 5 {
		return nil, errWKBShort
	}
	order, err := wkbOrder(b[0])
	if err != nil {
		return nil, err
	}
	typ := order.Uint32(b[1:5])
	b = b[5:]
	dims := 2
	if typ&ewkbZFlag != 0 {
		dims++
	}
	if typ&ewkbMFlag != 0 {
		dims++
	}
	if typ&ewkbSRIDFlag != 0 {
		if len(b) < 4 {
			return nil, errWKBShort
		}
		if srid := order.Uint32(b); srid != 0 && srid != sridWGS84 {
			return nil, fmt.Errorf("geo: parse wkb: SRID %d is not supported (want 4326 or none)", srid)
		}
		b = b[4:]
	}
	raw := typ &^ (ewkbZFlag | ewkbMFlag | ewkbSRIDFlag)
	switch raw / 1000 {
	case 1, 2: // Z or M
		dims++
	case 3: // ZM
		dims += 2
	}
	if dims > 4 {
		return nil, fmt.Errorf("geo: parse wkb: type code %#x mixes EWKB and ISO dimensions", typ)
	}
	if dims > 2 {
		w.changed = true
	}
	kind := raw % 1000
	w.out = append(w.out, 1)
	w.out = binary.LittleEndian.AppendUint32(w.out, kind)
	count := func() (int, error) {
		if len(b) < 4 {
			return 0, errWKBShort
		}
		n := order.Uint32(b)
		b = b[4:]
		w.out = binary.LittleEndian.AppendUint32(w.out, n)
		return int(n), nil
	}
	positions := func() error {
		n, err := count()
		if err != nil {
			return err
		}
		if uint64(n)*uint64(8*dims) > uint64(len(b)) {
			return errWKBShort
		}
		for range n {
			w.position(b, order)
			b = b[8*dims:]
		}
		return nil
	}
	switch kind {
	case 1: // Point
		if len(b) < 8*dims {
			return nil, errWKBShort
		}
		w.position(b, order)
		return b[8*dims:], nil
	case 2: // LineString
		return b, positions()
	case 3: // Polygon
		n, err := count()
		if err != nil {
			return nil, err
		}
		if uint64(n)*4 > uint64(len(b)) {
			return nil, errWKBShort
		}
		for range n {
			if err := positions(); err != nil {
				return nil, err
			}
		}
		return b, nil
	case 4, 5, 6, 7: // MultiPoint, MultiLineString, MultiPolygon, GeometryCollection
		n, err := count()
		if err != nil {
			return nil, err
		}
		if uint64(n)*5 > uint64(len(b)) {
			return nil, errWKBShort
		}
		for range n {
			if b, err = w.geometry(b, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("geo: parse wkb: unknown geometry type %d", kind)
}

// position copies the x and y of the position at b.
func (w *wkbFlattener) position(b []byte, order binary.ByteOrder) {
	w.out = binary.LittleEndian.AppendUint64(w.out, order.Uint64(b))
	w.out = binary.LittleEndian.AppendUint64(w.out, order.Uint64(b[8:]))
}

// force2DWKT drops Z/M markers and every ordinate after the second of each
// position from WKT (an EWKT SRID prefix is kept for ParseWKT to check).
// Malformed text comes back with its tokens re-spaced; ParseWKT reports it.
func force2DWKT(s string) (string, bool) {
	var out strings.Builder
	changed := false
	inPos := 0 // ordinates seen in the current position
	prevKeyword := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '(' || c == ')' || c == ',' || c == ';' || c == '=':
			out.WriteByte(c)
			inPos, prevKeyword = 0, false
			i++
			continue
		}
		j := i
		for j < len(s) && !strings.ContainsRune(" \t\n\r(),;=", rune(s[j])) {
			j++
		}
		tok := s[i:j]
		i = j
		if isWKTNumber(tok) {
			inPos++
			if inPos > 2 {
				changed = true
				continue
			}
			if inPos == 2 {
				out.WriteByte(' ')
			}
			out.WriteString(tok)
			continue
		}
		u := strings.ToUpper(tok)
		if prevKeyword && (u == "Z" || u == "M" || u == "ZM") {
			changed = true // (a repeated marker goes too)
			continue
		}
		if base, ok := wktDimSuffix(u); ok {
			tok, u, changed = base, base, true
		}
		if out.Len() > 0 {
			if last := out.String()[out.Len()-1]; last != '(' && last != ',' && last != ';' && last != '=' {
				out.WriteByte(' ')
			}
		}
		out.WriteString(tok)
		prevKeyword = slices.Contains(wktKeywords, u)
	}
	if !changed {
		return s, false
	}
	return out.String(), true
}

var wktKeywords = []string{"POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON", "GEOMETRYCOLLECTION"}

// wktDimSuffix splits the run-together spelling "POINTZ", "POLYGONZM".
func wktDimSuffix(u string) (string, bool) {
	for _, k := range wktKeywords {
		if rest, ok := strings.CutPrefix(u, k); ok && (rest == "Z" || rest == "M" || rest == "ZM") {
			return k, true
		}
	}
	return "", false
}

func isWKTNumber(tok string) bool {
	c := tok[0]
	if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' {
		return true
	}
	u := strings.ToUpper(tok)
	return u == "NAN" || u == "INF" || u == "INFINITY"
}

// wktHasZM reports whether WKT text has Z/M markers or positions with more
// than two ordinates.
func wktHasZM(s string) bool {
	_, changed := force2DWKT(s)
	return changed
}

// force2DGeoJSON truncates every position of a GeoJSON geometry, feature
// or feature collection to its first two numbers (and drops bounding
// boxes, which would keep their 3-D extent).
func force2DGeoJSON(b []byte) ([]byte, bool, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // numbers come back exactly as written
	if err := d.Decode(&v); err != nil {
		return nil, false, fmt.Errorf("geo: parse geojson: %w", err)
	}
	if !flattenGeoJSON(v, true) {
		return b, false, nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, false, fmt.Errorf("geo: parse geojson: %w", err)
	}
	return out, true, nil
}

// geojsonHasZM reports whether a GeoJSON text has a position with more
// than two numbers (orb's reader would drop them silently).
func geojsonHasZM(b []byte) bool {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(&v) == nil && flattenGeoJSON(v, false)
}

// flattenGeoJSON walks the members that hold geometry and reports whether
// a position has more than two numbers, truncating it when edit is set.
func flattenGeoJSON(v any, edit bool) bool {
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	found := false
	if c, ok := obj["coordinates"]; ok {
		nc, f := flattenPositions(c, edit)
		if f && edit {
			obj["coordinates"] = nc
		}
		found = found || f
	}
	for _, k := range []string{"geometry", "geometries", "features"} {
		switch m := obj[k].(type) {
		case map[string]any:
			found = flattenGeoJSON(m, edit) || found
		case []any:
			for _, e := range m {
				found = flattenGeoJSON(e, edit) || found
			}
		}
	}
	if found && edit {
		delete(obj, "bbox")
	}
	return found
}

// flattenPositions handles a position or a nested array of positions.
func flattenPositions(v any, edit bool) (any, bool) {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return v, false
	}
	if _, isNum := a[0].(json.Number); isNum {
		if len(a) > 2 {
			return a[:2], true
		}
		return a, false
	}
	found := false
	for i, e := range a {
		ne, f := flattenPositions(e, edit)
		if f {
			found = true
			if edit {
				a[i] = ne
			}
		}
	}
	return a, found
}
