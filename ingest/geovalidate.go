package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	pqschema "github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

// GeoCheck is one verdict of ValidateGeoParquet.
type GeoCheck struct {
	Title   string
	Run     bool // false when an earlier fatal failure stopped validation
	Passed  bool
	Message string
}

// GeoReport lists the verdicts of ValidateGeoParquet, in a fixed order.
type GeoReport struct {
	File   string
	Checks []GeoCheck
}

// OK reports whether every check that ran passed.
func (r *GeoReport) OK() bool { return r.Err() == nil }

// Err returns the failed checks as one error naming the file, or nil.
func (r *GeoReport) Err() error {
	var msgs []string
	for _, c := range r.Checks {
		if c.Run && !c.Passed {
			msgs = append(msgs, fmt.Sprintf("%s: %s", c.Title, c.Message))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return &Error{File: r.File, Err: fmt.Errorf("invalid GeoParquet: %s", strings.Join(msgs, "; "))}
}

// The checks of ValidateGeoParquet. The first twenty are those of gpq's
// validator (same titles, same order, same notion of which failures stop
// validation); the last is granary's own.
const (
	chkGeoKey = iota
	chkMetaObject
	chkVersion
	chkPrimaryString
	chkColumns
	chkPrimaryInColumns
	chkEncoding
	chkGeometryTypes
	chkCRS
	chkOrientation
	chkEdges
	chkBBox
	chkEpoch
	chkUngrouped
	chkByteArray
	chkRepetition
	chkValuesEncoding
	chkValuesTypes
	chkValuesOrientation
	chkValuesBBox
	chkValuesLonLat
	numGeoChecks
)

var geoCheckTitles = [numGeoChecks]string{
	`file must include a "geo" metadata key`,
	`metadata must be a JSON object`,
	`metadata must include a "version" string`,
	`metadata must include a "primary_column" string`,
	`metadata must include a "columns" object`,
	`column metadata must include the "primary_column" name`,
	`column metadata must include a valid "encoding" string`,
	`column metadata must include a "geometry_types" list`,
	`optional "crs" must be null or a PROJJSON object`,
	`optional "orientation" must be a valid string`,
	`optional "edges" must be a valid string`,
	`optional "bbox" must be an array of 4 or 6 numbers`,
	`optional "epoch" must be a number`,
	`geometry columns must not be grouped`,
	`geometry columns must be stored using the BYTE_ARRAY parquet type`,
	`geometry columns must be required or optional, not repeated`,
	`all geometry values match the "encoding" metadata`,
	`all geometry types must be included in the "geometry_types" metadata (if not empty)`,
	`all polygon geometries must follow the "orientation" metadata (if present)`,
	`all geometries must fall within the "bbox" metadata (if present)`,
	`coordinates must be longitude/latitude in range when the CRS is geographic`,
}

// validGeometryTypes are GeoParquet's geometry type names (each also with
// a " Z" suffix).
var validGeometryTypes = map[string]bool{
	"Point": true, "LineString": true, "Polygon": true, "MultiPoint": true,
	"MultiLineString": true, "MultiPolygon": true, "GeometryCollection": true,
}

// errFatal marks a failure after which no further check runs.
type errFatal struct{ error }

func fatalf(format string, args ...any) error { return errFatal{fmt.Errorf(format, args...)} }

// ValidateGeoParquet checks a GeoParquet file's "geo" metadata against the
// specification (versions 1.0 to 1.1; 0.4 and 2.0-dev files are judged by
// the same rules) and scans its geometry values: encoding, declared types,
// orientation, bbox, and coordinates in lon/lat range for a geographic
// CRS. The report lists every check; Err sums up the failures. An error
// is returned only when the file cannot be read as Parquet.
func ValidateGeoParquet(path string, opts ...Option) (*GeoReport, error) {
	o := newOptions(opts)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep := &GeoReport{File: path}
	rep.Checks = make([]GeoCheck, numGeoChecks)
	for i := range rep.Checks {
		rep.Checks[i].Title = geoCheckTitles[i]
	}
	props := parquet.NewReaderProperties(memory.NewGoAllocator())
	props.BufferedStreamEnabled = true
	var rdr *file.Reader
	func() {
		defer recovered(path, "reading the Parquet footer", &err)
		rdr, err = file.NewParquetReader(noClose{f}, file.WithReadProps(props))
	}()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			err = &Error{File: path, Err: err}
		}
		return nil, err
	}
	defer rdr.Close()
	v := &geoValidator{rep: rep, rdr: rdr}
	if v.metadata() {
		v.data(path, o)
	}
	return rep, nil
}

type geoValidator struct {
	rep    *GeoReport
	rdr    *file.Reader
	meta   map[string]any
	cols   map[string]map[string]any
	names  []string // column names, sorted
	parsed *GeoMetadata
}

// run records the outcome of check i; it returns false if validation must stop.
func (v *geoValidator) run(i int, err error) bool {
	c := &v.rep.Checks[i]
	c.Run = true
	if err == nil {
		c.Passed = true
		return true
	}
	c.Message = err.Error()
	var f errFatal
	return !errors.As(err, &f)
}

func jsonKind(x any) string {
	switch x.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", x)
}

func asJSONText(x any) string {
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Sprint(x)
	}
	return string(b)
}

// metadata runs the metadata checks; false means a fatal failure.
func (v *geoValidator) metadata() bool {
	md := v.rdr.MetaData()
	raw := md.KeyValueMetadata().FindValue(geoKey)
	if !v.run(chkGeoKey, func() error {
		if raw == nil {
			return fatalf("missing %q metadata key", geoKey)
		}
		return nil
	}()) {
		return false
	}
	if !v.run(chkMetaObject, func() error {
		if json.Unmarshal([]byte(*raw), &v.meta) != nil || v.meta == nil {
			return fatalf("failed to parse file metadata as a JSON object")
		}
		return nil
	}()) {
		return false
	}
	v.run(chkVersion, func() error {
		x, ok := v.meta["version"]
		if !ok {
			return errors.New(`missing "version" in metadata`)
		}
		if s, ok := x.(string); !ok || s == "" {
			return fmt.Errorf(`expected "version" to be a non-empty string, got %s`, asJSONText(x))
		}
		return nil
	}())
	v.run(chkPrimaryString, func() error {
		x, ok := v.meta["primary_column"]
		if !ok {
			return errors.New(`missing "primary_column" in metadata`)
		}
		if _, ok := x.(string); !ok {
			return fmt.Errorf(`expected "primary_column" to be a string, got %s`, asJSONText(x))
		}
		return nil
	}())
	if !v.run(chkColumns, func() error {
		x, ok := v.meta["columns"]
		if !ok {
			return fatalf(`missing "columns" in metadata`)
		}
		m, ok := x.(map[string]any)
		if !ok {
			return fatalf(`expected "columns" to be an object, got %s`, asJSONText(x))
		}
		v.cols = map[string]map[string]any{}
		for name, c := range m {
			cm, ok := c.(map[string]any)
			if !ok {
				return fatalf(`expected column %q to be an object, got %s`, name, asJSONText(c))
			}
			v.cols[name] = cm
			v.names = append(v.names, name)
		}
		sort.Strings(v.names)
		return nil
	}()) {
		return false
	}
	each := func(f func(name string, c map[string]any) error) error {
		for _, n := range v.names {
			if err := f(n, v.cols[n]); err != nil {
				return err
			}
		}
		return nil
	}
	steps := []struct {
		check int
		fn    func(name string, c map[string]any) error
	}{
		{chkEncoding, func(name string, c map[string]any) error {
			x, ok := c["encoding"]
			if !ok {
				return fmt.Errorf(`missing "encoding" for column %q`, name)
			}
			s, ok := x.(string)
			if !ok {
				return fmt.Errorf(`expected "encoding" for column %q to be a string, got %s`, name, asJSONText(x))
			}
			if !geoParquetEncodings[s] {
				return fmt.Errorf(`unsupported encoding %q for column %q`, s, name)
			}
			return nil
		}},
		{chkGeometryTypes, func(name string, c map[string]any) error {
			x, ok := c["geometry_types"]
			if !ok {
				return fmt.Errorf(`missing "geometry_types" for column %q`, name)
			}
			list, ok := x.([]any)
			if !ok {
				return fmt.Errorf(`expected "geometry_types" for column %q to be a list, got %s`, name, asJSONText(x))
			}
			for _, e := range list {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf(`expected "geometry_types" for column %q to be a list of strings, got %s`, name, asJSONText(x))
				}
				if !validGeometryTypes[strings.TrimSuffix(s, " Z")] {
					return fmt.Errorf(`unsupported geometry type %q for column %q`, s, name)
				}
			}
			return nil
		}},
		{chkCRS, func(name string, c map[string]any) error {
			x := c["crs"]
			if x == nil {
				return nil
			}
			obj, ok := x.(map[string]any)
			if !ok {
				return fatalf(`expected "crs" for column %q to be an object, got a %s: %s`, name, jsonKind(x), asJSONText(x))
			}
			if err := checkPROJJSON(obj); err != nil {
				return fmt.Errorf(`"crs" for column %q is not valid PROJJSON: %v`, name, err)
			}
			return nil
		}},
		{chkOrientation, func(name string, c map[string]any) error {
			x, ok := c["orientation"]
			if !ok {
				return nil
			}
			s, ok := x.(string)
			if !ok {
				return fatalf(`expected "orientation" for column %q to be a string, got a %s: %s`, name, jsonKind(x), asJSONText(x))
			}
			if s != "counterclockwise" {
				return fmt.Errorf(`unsupported orientation %q for column %q, expected "counterclockwise"`, s, name)
			}
			return nil
		}},
		{chkEdges, func(name string, c map[string]any) error {
			x, ok := c["edges"]
			if !ok {
				return nil
			}
			s, ok := x.(string)
			if !ok {
				return fatalf(`expected "edges" for column %q to be a string, got a %s: %s`, name, jsonKind(x), asJSONText(x))
			}
			if s != "planar" && s != "spherical" {
				return fmt.Errorf(`unsupported edges %q for column %q, expected "planar" or "spherical"`, s, name)
			}
			return nil
		}},
		{chkBBox, func(name string, c map[string]any) error {
			x, ok := c["bbox"]
			if !ok {
				return nil
			}
			list, ok := x.([]any)
			if !ok {
				return fatalf(`expected "bbox" for column %q to be a list, got a %s: %s`, name, jsonKind(x), asJSONText(x))
			}
			if len(list) != 4 && len(list) != 6 {
				return fmt.Errorf(`expected "bbox" for column %q to be a list of 4 or 6 numbers, got %s`, name, asJSONText(x))
			}
			for _, e := range list {
				if _, ok := e.(float64); !ok {
					return fatalf(`expected "bbox" for column %q to be a list of numbers, got %s`, name, asJSONText(x))
				}
			}
			return nil
		}},
		{chkEpoch, func(name string, c map[string]any) error {
			x, ok := c["epoch"]
			if !ok {
				return nil
			}
			if _, ok := x.(float64); !ok {
				return fatalf(`expected "epoch" for column %q to be a number, got a %s: %s`, name, jsonKind(x), asJSONText(x))
			}
			return nil
		}},
	}
	for _, s := range steps {
		if !v.run(s.check, each(s.fn)) {
			return false
		}
	}

	// Checks on the typed metadata and the Parquet schema.
	md2 := v.rdr.MetaData()
	lookup := func(k string) (string, bool) {
		x := md2.KeyValueMetadata().FindValue(k)
		if x == nil {
			return "", false
		}
		return *x, true
	}
	v.parsed = parseGeoJSON([]byte(*raw), lookup)
	primary, _ := v.meta["primary_column"].(string)
	v.run(chkPrimaryInColumns, func() error {
		if _, ok := v.cols[primary]; !ok {
			return fmt.Errorf("the %q column is not included in the column metadata", primary)
		}
		return nil
	}())
	root := md.Schema.Root()
	encodingOf := func(name string) string {
		s, _ := v.cols[name]["encoding"].(string)
		return s
	}
	if !v.run(chkUngrouped, each(func(name string, _ map[string]any) error {
		i := root.FieldIndexByName(name)
		if i < 0 {
			return fatalf("missing geometry column %q", name)
		}
		if _, ok := root.Field(i).(*pqschema.PrimitiveNode); !ok && !isNativeEncoding(encodingOf(name)) {
			return fmt.Errorf("column %q must not be a group", name)
		}
		return nil
	})) {
		return false
	}
	if !v.run(chkByteArray, each(func(name string, _ map[string]any) error {
		n := root.Field(root.FieldIndexByName(name))
		if isNativeEncoding(encodingOf(name)) {
			return nil // native encodings are nested lists/structs of doubles
		}
		p, ok := n.(*pqschema.PrimitiveNode)
		if !ok {
			return fatalf("expected primitive column for %q", name)
		}
		if p.PhysicalType() != parquet.Types.ByteArray {
			return fatalf("unexpected type for column %q, got %s", name, p.PhysicalType())
		}
		return nil
	})) {
		return false
	}
	return v.run(chkRepetition, each(func(name string, _ map[string]any) error {
		if root.Field(root.FieldIndexByName(name)).RepetitionType() == parquet.Repetitions.Repeated {
			return fmt.Errorf("column %q must not be repeated", name)
		}
		return nil
	}))
}

func isNativeEncoding(s string) bool { return geoParquetEncodings[s] && s != encWKB }

// checkPROJJSON is a structural check of a PROJJSON CRS object: a known
// type with the members the PROJJSON schema requires of it.
func checkPROJJSON(obj map[string]any) error {
	typ, _ := obj["type"].(string)
	has := func(keys ...string) error {
		for _, k := range keys {
			if _, ok := obj[k]; !ok {
				return fmt.Errorf("%s: missing property %q", typ, k)
			}
		}
		return nil
	}
	switch typ {
	case "GeographicCRS", "GeodeticCRS":
		if err := has("name"); err != nil {
			return err
		}
		_, d := obj["datum"]
		_, e := obj["datum_ensemble"]
		if !d && !e {
			return fmt.Errorf("%s: needs a \"datum\" or \"datum_ensemble\"", typ)
		}
		return nil
	case "ProjectedCRS":
		return has("name", "base_crs", "conversion", "coordinate_system")
	case "CompoundCRS":
		return has("name", "components")
	case "BoundCRS":
		return has("source_crs", "target_crs", "transformation")
	case "VerticalCRS", "EngineeringCRS", "TemporalCRS", "ParametricCRS":
		return has("name")
	case "DerivedGeographicCRS", "DerivedGeodeticCRS", "DerivedProjectedCRS":
		return has("name", "base_crs", "conversion", "coordinate_system")
	case "":
		return errors.New(`no "type"`)
	}
	return fmt.Errorf("unknown CRS type %q", typ)
}

// valueChecker holds the per-value checks of one geometry column.
type valueChecker struct {
	name        string
	types       []string
	orientation string
	bbox        []float64
	lonLat      bool
	errs        [numGeoChecks]error
}

// data scans the geometry values of every geometry column.
func (v *geoValidator) data(path string, o options) {
	src, err := Open(path, WithBatchSize(o.batchSize), WithAllocator(o.mem), WithMemoryLimit(o.memLimit))
	if err != nil {
		v.run(chkValuesEncoding, fatalf("cannot read the file: %v", err))
		return
	}
	defer src.Close()
	sc := src.Schema()
	checkers := map[int]*valueChecker{}
	plans := map[int]*plan{}
	for _, name := range v.names {
		i := sc.FieldIndices(name)
		if len(i) != 1 {
			continue
		}
		c := &valueChecker{name: name}
		c.orientation, _ = v.cols[name]["orientation"].(string)
		if list, ok := v.cols[name]["geometry_types"].([]any); ok {
			for _, e := range list {
				s, _ := e.(string)
				c.types = append(c.types, s)
			}
		}
		if list, ok := v.cols[name]["bbox"].([]any); ok {
			for _, e := range list {
				f, _ := e.(float64)
				c.bbox = append(c.bbox, f)
			}
		}
		if gc := v.parsed.Column(name); gc != nil {
			c.lonLat = gc.LonLat && gc.CRSName != "unknown"
		}
		enc, _ := v.cols[name]["encoding"].(string)
		if enc == "" {
			enc = encWKB // (a missing encoding fails its own check)
		}
		var p *plan
		switch {
		case enc == encWKB:
			p, err = planFor(sc.Field(i[0]).Type, schema.Field{Type: schema.Geometry}, planOpts{})
		case isNativeEncoding(enc):
			p, err = nativeGeometryPlan(sc.Field(i[0]).Type, enc, false)
		default:
			err = fmt.Errorf("unsupported encoding: %s", enc)
		}
		if err != nil {
			err := err
			p = &plan{bind: func(src arrow.Array, _ array.Builder, _ *Stats) cellFunc {
				return func(int) error { return err }
			}}
		}
		checkers[i[0]] = c
		plans[i[0]] = p
	}
	mem := memory.NewGoAllocator()
	for b, err := range src.Batches() {
		if err != nil {
			v.run(chkValuesEncoding, fatalf("cannot read the file: %v", err))
			return
		}
		for col, c := range checkers {
			arr := b.Record.Column(col)
			bld := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
			var st Stats
			fn := plans[col].bind(arr, bld, &st)
			for r := 0; r < arr.Len(); r++ {
				if arr.IsNull(r) {
					continue
				}
				if err := fn(r); err != nil {
					if strings.Contains(err.Error(), "2-D only") {
						continue // Z/M geometries: package geo reads 2-D only
					}
					bld.Release()
					v.run(chkValuesEncoding, fatalf("invalid geometry in column %q: %v", c.name, err))
					return
				}
			}
			wkbs := bld.NewBinaryArray()
			bld.Release()
			for r := 0; r < wkbs.Len(); r++ {
				if wkbs.IsNull(r) {
					continue
				}
				g, err := geo.ParseWKB(wkbs.Value(r))
				if err != nil {
					continue // Z/M geometries: package geo is 2-D only
				}
				c.check(g)
			}
			wkbs.Release()
		}
	}
	var errs [numGeoChecks]error
	for _, name := range v.names {
		for _, c := range checkers {
			if c.name != name {
				continue
			}
			for k := chkValuesTypes; k < numGeoChecks; k++ {
				if errs[k] == nil {
					errs[k] = c.errs[k]
				}
			}
		}
	}
	v.run(chkValuesEncoding, nil)
	for k := chkValuesTypes; k < numGeoChecks; k++ {
		v.run(k, errs[k])
	}
}

func (c *valueChecker) check(g orb.Geometry) {
	if len(c.types) > 0 && c.errs[chkValuesTypes] == nil {
		t := g.GeoJSONType()
		ok := false
		for _, want := range c.types {
			ok = ok || want == t || want == t+" Z"
		}
		if !ok {
			c.errs[chkValuesTypes] = fmt.Errorf("unexpected geometry type %q for column %q", t, c.name)
		}
	}
	if c.orientation != "" && c.orientation != "counterclockwise" && c.errs[chkValuesOrientation] == nil {
		c.errs[chkValuesOrientation] = fmt.Errorf("unsupported orientation %q for column %q", c.orientation, c.name)
	}
	if p, ok := g.(orb.Polygon); ok && c.orientation == "counterclockwise" && c.errs[chkValuesOrientation] == nil {
		for k, ring := range p {
			want, what := orb.CCW, "exterior"
			if k > 0 {
				want, what = orb.CW, "interior"
			}
			if len(ring) >= 4 && ring.Orientation() != want {
				c.errs[chkValuesOrientation] = fmt.Errorf("invalid orientation for %s ring in column %q", what, c.name)
				break
			}
		}
	}
	b := g.Bound()
	if b.IsEmpty() || math.IsNaN(b.Min[0]) || math.IsNaN(b.Min[1]) {
		return // an empty geometry has no extent
	}
	if len(c.bbox) > 0 && c.errs[chkValuesBBox] == nil {
		c.errs[chkValuesBBox] = checkBBox(c.name, c.bbox, b)
	}
	if c.lonLat && c.errs[chkValuesLonLat] == nil {
		const eps = 1e-9 // writers' rounding (180.00000000000006)
		for _, x := range []float64{b.Min[0], b.Max[0]} {
			if x < -180-eps || x > 180+eps {
				c.errs[chkValuesLonLat] = fmt.Errorf("column %q has longitude %g, outside [-180, 180]: the coordinates are not lon/lat (a projected CRS declared as OGC:CRS84?)", c.name, x)
				return
			}
		}
		for _, y := range []float64{b.Min[1], b.Max[1]} {
			if y < -90-eps || y > 90+eps {
				c.errs[chkValuesLonLat] = fmt.Errorf("column %q has latitude %g, outside [-90, 90]: the coordinates are not lon/lat", c.name, y)
				return
			}
		}
	}
}

// checkBBox tests a geometry's bound against the "bbox" metadata; a bbox
// with xmin > xmax crosses the antimeridian.
func checkBBox(name string, bbox []float64, b orb.Bound) error {
	var x0, y0, x1, y1 float64
	switch len(bbox) {
	case 4:
		x0, y0, x1, y1 = bbox[0], bbox[1], bbox[2], bbox[3]
	case 6:
		x0, y0, x1, y1 = bbox[0], bbox[1], bbox[3], bbox[4]
	default:
		return fmt.Errorf("invalid bbox length for column %q", name)
	}
	minX, maxX, minY, maxY := b.Min[0], b.Max[0], b.Min[1], b.Max[1]
	if math.IsNaN(minX) || math.IsNaN(minY) {
		return nil // empty geometry
	}
	if x0 <= x1 {
		if minX < x0 {
			return fmt.Errorf("geometry in column %q extends to %f, west of the bbox", name, minX)
		}
		if maxX > x1 {
			return fmt.Errorf("geometry in column %q extends to %f, east of the bbox", name, maxX)
		}
	} else {
		if maxX > x1 && maxX < x0 {
			return fmt.Errorf("geometry in column %q extends to %f, outside of the bbox", name, maxX)
		}
		if minX < x0 && minX > x1 {
			return fmt.Errorf("geometry in column %q extends to %f, outside of the bbox", name, minX)
		}
	}
	if minY < y0 {
		return fmt.Errorf("geometry in column %q extends to %f, south of the bbox", name, minY)
	}
	if maxY > y1 {
		return fmt.Errorf("geometry in column %q extends to %f, north of the bbox", name, maxY)
	}
	return nil
}
