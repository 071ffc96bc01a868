package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// GeoMetadata is what a file says about its geometry columns: the
// GeoParquet "geo" metadata (versions 0.4.0 to 2.0-dev), Parquet's
// GEOMETRY/GEOGRAPHY logical types, or GeoArrow extension types (Arrow IPC).
// Sources that know about geometry implement GeoSource.
type GeoMetadata struct {
	// Version is the GeoParquet version of the "geo" metadata ("" if the
	// file has none).
	Version string
	// PrimaryColumn names the primary geometry column: the "geo"
	// metadata's primary_column, else the only (or first) geometry column.
	PrimaryColumn string
	// Columns describes each geometry column, in schema order.
	Columns []GeoColumn
	// Raw is the "geo" metadata as stored, if any.
	Raw []byte
	// Problems lists what in the metadata could not be understood. They do
	// not stop reading the file (ValidateGeoParquet judges the metadata).
	Problems []string
}

// GeoColumn is one geometry column.
type GeoColumn struct {
	Name string
	// Encoding is "WKB", "WKT", or a GeoArrow native encoding: "point",
	// "linestring", "polygon", "multipoint", "multilinestring",
	// "multipolygon" (GeoParquet 1.1) or "box" (GeoArrow).
	Encoding string
	// GeometryTypes lists the declared geometry types (may be empty).
	GeometryTypes []string
	// CRS is the coordinate reference system as given (a PROJJSON object or
	// a string); nil when the file does not say.
	CRS json.RawMessage
	// CRSName names the CRS for people: "OGC:CRS84", "EPSG:4326", a PROJJSON
	// name, or "unknown".
	CRSName string
	// LonLat reports whether coordinates are WGS 84 longitude/latitude, the
	// only coordinates granary stores. An unknown CRS counts as lon/lat.
	LonLat bool
	// CRSErr says why LonLat is false.
	CRSErr string
	// Edges is "planar" (default) or "spherical".
	Edges       string
	Orientation string
	BBox        []float64
	// From says where the description comes from: "geo metadata",
	// "Parquet GEOMETRY type", "Parquet GEOGRAPHY type" or "GeoArrow extension".
	From string
	// Covering names the top-level columns that hold the geometry's
	// covering (GeoParquet 1.1: a per-row bounding box), which is derived
	// from the geometry: mapping ignores them unless --map names them.
	Covering []string
}

// GeoSource is implemented by sources that found geometry columns.
type GeoSource interface {
	// GeoInfo describes the geometry columns, or returns nil if there are none.
	GeoInfo() *GeoMetadata
}

// Primary returns the primary geometry column, or nil.
func (g *GeoMetadata) Primary() *GeoColumn {
	if g == nil {
		return nil
	}
	for i := range g.Columns {
		if g.Columns[i].Name == g.PrimaryColumn {
			return &g.Columns[i]
		}
	}
	return nil
}

// Column returns the geometry column named name, or nil.
func (g *GeoMetadata) Column(name string) *GeoColumn {
	if g == nil {
		return nil
	}
	for i := range g.Columns {
		if g.Columns[i].Name == name {
			return &g.Columns[i]
		}
	}
	return nil
}

// CheckCRS returns an error naming the CRS unless the column's coordinates
// are longitude/latitude.
func (c *GeoColumn) CheckCRS() error {
	if c.LonLat {
		return nil
	}
	return fmt.Errorf("geometry column %q: %s", c.Name, c.CRSErr)
}

// Geometry encodings.
const (
	encWKB             = "WKB"
	encWKT             = "WKT"
	encPoint           = "point"
	encLineString      = "linestring"
	encPolygon         = "polygon"
	encMultiPoint      = "multipoint"
	encMultiLineString = "multilinestring"
	encMultiPolygon    = "multipolygon"
	encBox             = "box"
)

// geoParquetEncodings are the encodings GeoParquet allows ("WKB"; the
// native ones since 1.1).
var geoParquetEncodings = map[string]bool{
	encWKB: true, encPoint: true, encLineString: true, encPolygon: true,
	encMultiPoint: true, encMultiLineString: true, encMultiPolygon: true,
}

// normEncoding maps a GeoParquet encoding or a GeoArrow extension name onto
// one of the encodings above ("" if unknown).
func normEncoding(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "geoarrow.")
	switch strings.ToLower(s) {
	case "wkb":
		return encWKB
	case "wkt":
		return encWKT
	case encPoint, encLineString, encPolygon, encMultiPoint, encMultiLineString, encMultiPolygon, encBox:
		return strings.ToLower(s)
	}
	return ""
}

// Arrow extension metadata keys.
const (
	extNameKey = "ARROW:extension:name"
	extMetaKey = "ARROW:extension:metadata"
	geoKey     = "geo"
)

// ---- "geo" metadata

// parseGeoJSON reads GeoParquet "geo" metadata leniently: what it cannot
// understand goes to Problems. lookup resolves other key-value metadata
// (for "projjson:KEY" CRS references).
func parseGeoJSON(raw []byte, lookup func(string) (string, bool)) *GeoMetadata {
	g := &GeoMetadata{Raw: raw}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		g.Problems = append(g.Problems, "the \"geo\" metadata is not a JSON object")
		return g
	}
	if v, ok := top["version"]; ok {
		if err := json.Unmarshal(v, &g.Version); err != nil {
			g.Problems = append(g.Problems, "\"version\" is not a string")
		}
	} else {
		g.Problems = append(g.Problems, "no \"version\"")
	}
	if v, ok := top["primary_column"]; ok {
		if err := json.Unmarshal(v, &g.PrimaryColumn); err != nil {
			g.Problems = append(g.Problems, "\"primary_column\" is not a string")
		}
	} else {
		g.Problems = append(g.Problems, "no \"primary_column\"")
	}
	var cols map[string]json.RawMessage
	if err := json.Unmarshal(top["columns"], &cols); err != nil || cols == nil {
		g.Problems = append(g.Problems, "no \"columns\" object")
	}
	names := make([]string, 0, len(cols))
	for n := range cols {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		var cm map[string]json.RawMessage
		if err := json.Unmarshal(cols[name], &cm); err != nil {
			g.Problems = append(g.Problems, fmt.Sprintf("column %q: not an object", name))
			continue
		}
		c := GeoColumn{Name: name, From: "geo metadata"}
		var enc string
		if err := json.Unmarshal(cm["encoding"], &enc); err != nil || enc == "" {
			g.Problems = append(g.Problems, fmt.Sprintf("column %q: no \"encoding\"", name))
		}
		c.Encoding = normEncoding(enc)
		if c.Encoding == encWKT || c.Encoding == encBox || c.Encoding == "" {
			if enc != "" {
				g.Problems = append(g.Problems, fmt.Sprintf("column %q: unsupported encoding %q", name, enc))
			}
			c.Encoding = enc // keep what the file says
		}
		gt := cm["geometry_types"]
		if gt == nil {
			gt = cm["geometry_type"] // GeoParquet 0.4.0
		}
		if gt != nil {
			var list []string
			var one string
			if json.Unmarshal(gt, &list) == nil {
				c.GeometryTypes = list
			} else if json.Unmarshal(gt, &one) == nil {
				c.GeometryTypes = []string{one}
			} else {
				g.Problems = append(g.Problems, fmt.Sprintf("column %q: \"geometry_types\" is not a list of strings", name))
			}
		}
		_ = json.Unmarshal(cm["edges"], &c.Edges)
		_ = json.Unmarshal(cm["orientation"], &c.Orientation)
		if b, ok := cm["bbox"]; ok {
			if json.Unmarshal(b, &c.BBox) != nil {
				g.Problems = append(g.Problems, fmt.Sprintf("column %q: \"bbox\" is not a list of numbers", name))
			}
		}
		var cov struct {
			BBox map[string][]string `json:"bbox"`
		}
		if json.Unmarshal(cm["covering"], &cov) == nil {
			for _, k := range slices.Sorted(maps.Keys(cov.BBox)) {
				if path := cov.BBox[k]; len(path) > 0 && !slices.Contains(c.Covering, path[0]) {
					c.Covering = append(c.Covering, path[0])
				}
			}
		}
		crs, present := cm["crs"]
		// GeoParquet: an absent crs means OGC:CRS84; null means unknown.
		c.setCRS(crs, present, true, lookup)
		g.Columns = append(g.Columns, c)
	}
	return g
}

// setCRS records the CRS and whether it is lon/lat. absentIsCRS84 says
// what a missing crs means (GeoParquet and Parquet: OGC:CRS84; GeoArrow:
// unknown).
func (c *GeoColumn) setCRS(raw json.RawMessage, present, absentIsCRS84 bool, lookup func(string) (string, bool)) {
	raw = bytes.TrimSpace(raw)
	if !present || len(raw) == 0 {
		c.CRS = nil
		if absentIsCRS84 {
			c.CRSName, c.LonLat = "OGC:CRS84", true
		} else {
			c.CRSName, c.LonLat = "unknown", true
		}
		return
	}
	c.CRS = append(json.RawMessage(nil), raw...)
	// Resolve a "projjson:KEY" reference (Parquet GEOMETRY/GEOGRAPHY) to
	// the PROJJSON it names, so that the CRS travels with the column.
	var ref string
	if json.Unmarshal(raw, &ref) == nil && lookup != nil && len(ref) > 9 && strings.EqualFold(ref[:9], "projjson:") {
		if v, ok := lookup(ref[9:]); ok && json.Valid([]byte(v)) {
			c.CRS = json.RawMessage(v)
		}
	}
	name, ok, why := judgeCRS(raw, lookup)
	c.CRSName, c.LonLat = name, ok
	if !ok {
		c.CRSErr = why
	}
}

// ---- CRS recognition

// lonLatCRSIDs are the CRS identifiers whose coordinates are WGS 84
// longitude/latitude (GeoParquet and GeoArrow store x = longitude for
// EPSG:4326 too).
var lonLatCRSIDs = map[string]string{
	"OGC:CRS84": "OGC:CRS84", "CRS84": "OGC:CRS84", "OGC:CRS:84": "OGC:CRS84", "CRS:84": "OGC:CRS84",
	"EPSG:4326": "EPSG:4326", "SRID:4326": "EPSG:4326", "4326": "EPSG:4326",
	"URN:OGC:DEF:CRS:OGC:1.3:CRS84": "OGC:CRS84", "URN:OGC:DEF:CRS:OGC::CRS84": "OGC:CRS84",
	"URN:OGC:DEF:CRS:EPSG::4326":                   "EPSG:4326",
	"HTTP://WWW.OPENGIS.NET/DEF/CRS/OGC/1.3/CRS84": "OGC:CRS84", "HTTPS://WWW.OPENGIS.NET/DEF/CRS/OGC/1.3/CRS84": "OGC:CRS84",
	"HTTP://WWW.OPENGIS.NET/DEF/CRS/EPSG/0/4326": "EPSG:4326", "HTTPS://WWW.OPENGIS.NET/DEF/CRS/EPSG/0/4326": "EPSG:4326",
}

const crsHint = "granary stores WGS 84 longitude/latitude (OGC:CRS84 or EPSG:4326); reproject the file first (e.g. ogr2ogr -t_srs EPSG:4326)"

// judgeCRS names a CRS given as JSON (a PROJJSON object, or a string:
// an authority code, "projjson:KEY", "srid:N", PROJJSON text or WKT) and
// says whether it is WGS 84 lon/lat. JSON null means unknown (accepted).
func judgeCRS(raw json.RawMessage, lookup func(string) (string, bool)) (name string, lonLat bool, why string) {
	if string(raw) == "null" {
		return "unknown", true, ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return judgeCRSString(s, lookup, 0)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "invalid", false, fmt.Sprintf("the CRS %s is neither a string nor a PROJJSON object; %s", clip(string(raw)), crsHint)
	}
	return judgePROJJSON(obj)
}

func judgeCRSString(s string, lookup func(string) (string, bool), depth int) (string, bool, string) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "unknown", true, ""
	}
	up := strings.ToUpper(t)
	if id, ok := lonLatCRSIDs[up]; ok {
		return id, true, ""
	}
	switch {
	case strings.HasPrefix(up, "PROJJSON:"):
		key := t[len("projjson:"):]
		if lookup != nil && depth < 2 {
			if v, ok := lookup(key); ok {
				return judgeCRSString(v, lookup, depth+1)
			}
		}
		return t, false, fmt.Sprintf("the CRS %q refers to file metadata key %q, which the file does not have; %s", t, key, crsHint)
	case strings.HasPrefix(t, "{"):
		var obj map[string]any
		if err := json.Unmarshal([]byte(t), &obj); err != nil {
			return "invalid", false, fmt.Sprintf("the CRS is not valid PROJJSON (%v); %s", err, crsHint)
		}
		return judgePROJJSON(obj)
	case looksLikeWKT(up):
		return judgeWKT(t)
	}
	return t, false, fmt.Sprintf("the CRS %q is not longitude/latitude; %s", clip(t), crsHint)
}

func crsID(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	auth, _ := m["authority"].(string)
	var code string
	switch c := m["code"].(type) {
	case string:
		code = c
	case float64:
		code = strconv.FormatFloat(c, 'f', -1, 64)
	default:
		return "", false
	}
	if auth == "" {
		return "", false
	}
	return strings.ToUpper(auth) + ":" + code, true
}

func judgePROJJSON(obj map[string]any) (string, bool, string) {
	name, _ := obj["name"].(string)
	typ, _ := obj["type"].(string)
	var ids []string
	if id, ok := crsID(obj["id"]); ok {
		ids = append(ids, id)
	}
	if list, ok := obj["ids"].([]any); ok {
		for _, v := range list {
			if id, ok := crsID(v); ok {
				ids = append(ids, id)
			}
		}
	}
	if name == "" || strings.EqualFold(name, "unknown") {
		name = "unnamed " + typ
		if conv, ok := obj["conversion"].(map[string]any); ok {
			if meth, ok := conv["method"].(map[string]any); ok {
				if mn, _ := meth["name"].(string); mn != "" {
					name += " (" + mn + ")"
				}
			}
		}
	}
	label := name
	if len(ids) > 0 {
		if label != "" {
			label += " (" + ids[0] + ")"
		} else {
			label = ids[0]
		}
	}
	for _, id := range ids {
		if norm, ok := lonLatCRSIDs[id]; ok {
			return norm, true, ""
		}
	}
	if len(ids) == 0 && (typ == "GeographicCRS" || typ == "GeodeticCRS") && isWGS84Datum(obj) {
		return label, true, ""
	}
	what := "is not WGS 84 longitude/latitude"
	if strings.Contains(typ, "Projected") {
		what = "is a projected CRS (coordinates are not longitude/latitude)"
	}
	return label, false, fmt.Sprintf("the CRS %q %s; %s", label, what, crsHint)
}

// isWGS84Datum reports whether a geographic PROJJSON CRS without an
// identifier is on the WGS 84 datum (ensemble).
func isWGS84Datum(obj map[string]any) bool {
	for _, k := range []string{"datum", "datum_ensemble"} {
		if d, ok := obj[k].(map[string]any); ok {
			if n, _ := d["name"].(string); strings.Contains(n, "World Geodetic System 1984") {
				return true
			}
		}
	}
	return false
}

func looksLikeWKT(up string) bool {
	for _, k := range []string{"GEOGCRS[", "GEOGCS[", "GEODCRS[", "GEOGRAPHICCRS[", "PROJCRS[", "PROJCS[", "PROJECTEDCRS[", "COMPOUNDCRS[", "COMPD_CS[", "BOUNDCRS[", "GEOCCS[", "ENGCRS[", "VERTCRS["} {
		if strings.HasPrefix(up, k) {
			return true
		}
	}
	return false
}

// judgeWKT reads the top-level keyword, name and identifier (WKT2 ID[...]
// or WKT1 AUTHORITY[...] directly inside the outer bracket) of a WKT CRS.
func judgeWKT(s string) (string, bool, string) {
	open := strings.IndexByte(s, '[')
	kw := strings.ToUpper(strings.TrimSpace(s[:open]))
	name := ""
	if q := strings.IndexByte(s[open:], '"'); q >= 0 {
		rest := s[open+q+1:]
		if e := strings.IndexByte(rest, '"'); e >= 0 {
			name = rest[:e]
		}
	}
	// Scan the outer bracket for ID[...] / AUTHORITY[...] at depth 1.
	id := ""
	depth := 0
	inStr := false
	for i := open; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			inStr = !inStr
			continue
		}
		if inStr {
			continue
		}
		switch c {
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		}
		if depth == 1 && (c == ',' || c == '[') {
			rest := strings.TrimSpace(s[i+1:])
			upRest := strings.ToUpper(rest)
			for _, k := range []string{"ID[", "AUTHORITY["} {
				if strings.HasPrefix(upRest, k) {
					body := rest[len(k):]
					if e := strings.IndexByte(body, ']'); e >= 0 {
						parts := strings.Split(body[:e], ",")
						if len(parts) >= 2 {
							id = strings.ToUpper(strings.Trim(strings.TrimSpace(parts[0]), `"`)) + ":" + strings.Trim(strings.TrimSpace(parts[1]), `"`)
						}
					}
				}
			}
		}
	}
	label := name
	if id != "" {
		label = name + " (" + id + ")"
		if norm, ok := lonLatCRSIDs[id]; ok {
			return norm, true, ""
		}
	}
	what := "is not WGS 84 longitude/latitude"
	if strings.HasPrefix(kw, "PROJ") {
		what = "is a projected CRS (coordinates are not longitude/latitude)"
	}
	return label, false, fmt.Sprintf("the CRS %q %s; %s", label, what, crsHint)
}

// ---- GeoArrow extension metadata on Arrow fields

// geoArrowField returns the GeoArrow extension name ("geoarrow.wkb", …)
// and its metadata JSON of an Arrow field, from a registered extension
// type or from the field metadata that carries unregistered ones.
func geoArrowField(f arrow.Field) (name, meta string, ok bool) {
	if et, isExt := f.Type.(arrow.ExtensionType); isExt && strings.HasPrefix(et.ExtensionName(), "geoarrow.") {
		return et.ExtensionName(), et.Serialize(), true
	}
	if f.Metadata.Len() == 0 {
		return "", "", false
	}
	i := f.Metadata.FindKey(extNameKey)
	if i < 0 || !strings.HasPrefix(f.Metadata.Values()[i], "geoarrow.") {
		return "", "", false
	}
	name = f.Metadata.Values()[i]
	if j := f.Metadata.FindKey(extMetaKey); j >= 0 {
		meta = f.Metadata.Values()[j]
	}
	return name, meta, true
}

// geoColumnFromField describes a GeoArrow field.
func geoColumnFromField(f arrow.Field, lookup func(string) (string, bool)) (GeoColumn, bool) {
	name, meta, ok := geoArrowField(f)
	if !ok {
		return GeoColumn{}, false
	}
	c := GeoColumn{Name: f.Name, Encoding: normEncoding(name), From: "GeoArrow extension"}
	if c.Encoding == "" {
		c.Encoding = name
	}
	var m map[string]json.RawMessage
	if strings.TrimSpace(meta) != "" {
		if err := json.Unmarshal([]byte(meta), &m); err != nil {
			c.setCRS(nil, false, false, lookup)
			c.LonLat, c.CRSErr = false, fmt.Sprintf("the GeoArrow extension metadata is not JSON (%v)", err)
			return c, true
		}
	}
	_ = json.Unmarshal(m["edges"], &c.Edges)
	crs, present := m["crs"]
	c.setCRS(crs, present, false, lookup)
	return c, true
}

// withGeoArrow returns f with GeoArrow extension metadata for column c
// (encoding and CRS), keeping f's other metadata.
func withGeoArrow(f arrow.Field, c *GeoColumn) arrow.Field {
	ext := "geoarrow." + strings.ToLower(c.Encoding)
	m := map[string]json.RawMessage{}
	if c.CRS != nil {
		m["crs"] = c.CRS
	} else if c.CRSName != "" && c.CRSName != "unknown" {
		m["crs"], _ = json.Marshal(c.CRSName)
	}
	if c.Edges != "" && c.Edges != "planar" {
		m["edges"], _ = json.Marshal(c.Edges)
	}
	meta, _ := json.Marshal(m)
	keys := []string{extNameKey, extMetaKey}
	vals := []string{ext, string(meta)}
	for i, k := range f.Metadata.Keys() {
		if k != extNameKey && k != extMetaKey {
			keys = append(keys, k)
			vals = append(vals, f.Metadata.Values()[i])
		}
	}
	f.Metadata = arrow.NewMetadata(keys, vals)
	return f
}

// schemaGeo collects the geometry columns of an Arrow schema: its "geo"
// metadata (GeoParquet, or Feather written by geopandas), GeoArrow
// extension fields, and extra columns (Parquet logical types) given by the
// caller. It returns the description (nil if there are no geometry
// columns) and the schema with GeoArrow metadata on every geometry field
// (so that the mapper knows the encoding and CRS).
func schemaGeo(sc *arrow.Schema, lookup func(string) (string, bool), extra []GeoColumn) (*GeoMetadata, *arrow.Schema) {
	var g *GeoMetadata
	md := sc.Metadata()
	v, ok := md.GetValue(geoKey)
	if !ok && lookup != nil {
		// pqarrow keeps the file's key-value metadata in the schema only
		// when the file carries an ARROW:schema.
		if v, ok = lookup(geoKey); ok {
			md = arrow.NewMetadata(append(md.Keys(), geoKey), append(md.Values(), v))
			sc = arrow.NewSchema(sc.Fields(), &md)
		}
	}
	if ok {
		g = parseGeoJSON([]byte(v), lookup)
	}
	byName := map[string]*GeoColumn{}
	if g != nil {
		for i := range g.Columns {
			byName[g.Columns[i].Name] = &g.Columns[i]
		}
	}
	fields := sc.Fields()
	var cols []GeoColumn
	changed := false
	for i, f := range fields {
		var c *GeoColumn
		if gc, ok := byName[f.Name]; ok {
			c = gc
		} else {
			for j := range extra {
				if extra[j].Name == f.Name {
					c = &extra[j]
					break
				}
			}
		}
		if c == nil {
			if gc, ok := geoColumnFromField(f, lookup); ok {
				cols = append(cols, gc)
			}
			continue
		}
		cols = append(cols, *c)
		if normEncoding(c.Encoding) != "" {
			fields[i] = withGeoArrow(f, c)
			changed = true
		}
	}
	if g == nil && len(cols) == 0 {
		return nil, sc
	}
	if g == nil {
		g = &GeoMetadata{}
	}
	// Columns the "geo" metadata names but the schema lacks are reported.
	for _, c := range g.Columns {
		found := false
		for _, f := range fields {
			found = found || f.Name == c.Name
		}
		if !found {
			g.Problems = append(g.Problems, fmt.Sprintf("the geo metadata describes column %q, which the file does not have", c.Name))
		}
	}
	g.Columns = cols
	if g.Primary() == nil && len(cols) > 0 {
		if g.PrimaryColumn != "" {
			g.Problems = append(g.Problems, fmt.Sprintf("primary column %q is not a geometry column of the file", g.PrimaryColumn))
		}
		g.PrimaryColumn = cols[0].Name
		for _, c := range cols {
			if strings.EqualFold(c.Name, "geometry") {
				g.PrimaryColumn = c.Name
			}
		}
	}
	if changed {
		sc = arrow.NewSchema(fields, &md)
	}
	return g, sc
}
