package ingest

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

// inferSampleRows is how many rows InferSchema looks at to type text
// columns (CSV, or strings in any format) and to check geometry columns.
const inferSampleRows = 2000

// timeColumnNames are the column names InferSchema takes for the time
// field, in order of preference.
var timeColumnNames = []string{
	"time", "timestamp", "datetime", "date_time", "start_time", "starttime", "time_start",
	"begin_time", "start_datetime", "start_date", "observation_time", "acquisition_time",
	"sensing_time", "event_time", "measurement_time", "date",
}

// geometryColumnNames are the names of columns that may hold geometry
// without saying so in metadata (WKT, WKB, GeoJSON).
var geometryColumnNames = map[string]bool{
	"geometry": true, "geom": true, "the_geom": true, "wkt": true, "wkb": true,
	"geometry_wkt": true, "geometry_wkb": true, "geom_wkt": true, "geom_wkb": true,
	"footprint": true, "shape": true, "geog": true, "geography": true,
}

// InferSchema proposes a dataset schema for the file src: every column
// becomes a field of the matching type (Arrow types mapped; text columns
// typed from their values), named in snake_case. A time column is picked
// (one named time, timestamp, datetime, start_time, …, else the only
// timestamp column; otherwise the error lists the candidates), and the
// dataset is spatiotemporal when a geometry column is found (the
// GeoParquet/GeoArrow primary column, or a column named geometry, geom,
// wkt, wkb, … whose values parse as geometry).
//
// InferSchema reads the first rows of src (up to 2000): src cannot be read
// again afterwards; open the file anew to ingest it.
func InferSchema(src Source, codeName string) (*schema.Dataset, error) {
	ds, _, err := InferSchemaMapping(src, codeName)
	return ds, err
}

// InferOption adjusts InferSchemaMapping.
type InferOption func(*inferConfig)

type inferConfig struct {
	noTime bool
	flag   func(string)
}

// WithoutTimeColumn proposes a schema for a file that has no timestamp
// column at all (GeoParquet catalogues of places, say) instead of failing:
// every datapoint needs a time, which then comes from --set time=VALUE (or
// Mapping.Set) at ingest. Several candidates still fail with the question.
func WithoutTimeColumn() InferOption { return func(c *inferConfig) { c.noTime = true } }

// WithIngestFlags reports, through add, the ingest flags beyond the Mapping
// that ingesting the file into the proposed schema needs: --force-2d when
// its geometries have Z or M.
func WithIngestFlags(add func(flag string)) InferOption {
	return func(c *inferConfig) { c.flag = add }
}

// inferGeometry reports whether s reads as a geometry, Z and M allowed
// (ingesting them then needs --force-2d; see WithIngestFlags).
func inferGeometry(s string) error {
	_, err := geometryWKB([]byte(s))
	if errors.Is(err, geo.ErrNot2D) {
		if flat, changed, ferr := geo.Force2D([]byte(s)); ferr == nil && changed {
			_, err = geometryWKB(flat)
		}
	}
	return err
}

// hasZM reports whether a geometry column's sampled values (or its native
// coordinates) have Z or M.
func hasZM(col arrow.Field, f schema.Field, sample []arrow.Array) bool {
	if _, err := planForColumn(col, f, planOpts{}); err != nil {
		return strings.Contains(err.Error(), "--force-2d")
	}
	for _, v := range geometryValues(col, sample, inferSampleRows) {
		if _, err := geometryWKB([]byte(v)); errors.Is(err, geo.ErrNot2D) {
			return true
		}
	}
	return false
}

// InferSchemaMapping is InferSchema that also returns the Mapping that
// ingests src into the proposed dataset: renames for columns whose field
// name differs (snake_case, the time and geometry columns) and drops for
// the columns no field type fits (the dataset's Description lists them).
func InferSchemaMapping(src Source, codeName string, opts ...InferOption) (*schema.Dataset, Mapping, error) {
	var cfg inferConfig
	for _, o := range opts {
		o(&cfg)
	}
	var m Mapping
	if !schema.ValidCodeName(codeName) {
		return nil, m, fmt.Errorf("code name %q: want lower snake_case starting with a letter (e.g. my_dataset)", codeName)
	}
	sc := src.Schema()
	fail := func(format string, args ...any) error {
		return &Error{File: src.Name(), Err: fmt.Errorf(format, args...)}
	}
	if sc.NumFields() == 0 {
		return nil, m, fail("the file has no columns")
	}
	seen := map[string]int{}
	for i, f := range sc.Fields() {
		if j, dup := seen[f.Name]; dup {
			return nil, m, &Error{File: src.Name(), Column: f.Name, Err: fmt.Errorf("columns %d and %d are both named %q: mapping by name would be ambiguous; rename one in the file", j+1, i+1, f.Name)}
		}
		seen[f.Name] = i
	}
	var geo *GeoMetadata
	if gs, ok := src.(GeoSource); ok {
		geo = gs.GeoInfo()
	} else {
		geo, _ = schemaGeo(sc, nil, nil)
	}
	sample, err := sampleColumns(src, inferSampleRows)
	if err != nil {
		return nil, m, err
	}
	defer func() {
		for _, s := range sample {
			s.Release()
		}
	}()

	type proposal struct {
		col   int
		name  string // source column
		field schema.Field
		why   string // why it was dropped, if it was
	}
	var props []proposal
	var dropped []string
	geoCols, covering := map[string]bool{}, map[string]bool{}
	for _, c := range geo.columns() {
		geoCols[c.Name] = true
		for _, name := range c.Covering {
			covering[name] = true
		}
	}
	for i, col := range sc.Fields() {
		n := strings.TrimSpace(col.Name)
		if strings.EqualFold(n, schema.FieldID) || strings.EqualFold(n, schema.FieldIngestionTime) || covering[col.Name] {
			continue // granary sets these, or they are the geometry's bounding boxes: the mapper ignores such columns
		}
		var t schema.Type
		var isArr bool
		var why string
		if geoCols[col.Name] && !geometryUnparseable(col, geo.Column(col.Name), columnSample(sample, i)) {
			t = schema.Geometry
			if c := geo.Column(col.Name); c != nil {
				if err := c.CheckCRS(); err != nil {
					return nil, m, &Error{File: src.Name(), Column: col.Name, Err: errors.New(strings.TrimPrefix(err.Error(), fmt.Sprintf("geometry column %q: ", col.Name)))}
				}
			}
		} else {
			t, isArr, why = inferColumnType(col, columnSample(sample, i))
		}
		if t == schema.TypeUnspecified {
			dropped = append(dropped, fmt.Sprintf("%s (%s)", col.Name, why))
			m.Drop = append(m.Drop, col.Name)
			continue
		}
		props = append(props, proposal{col: i, name: col.Name, field: schema.Field{Name: snakeCase(col.Name, i), Type: t, Array: isArr}})
	}

	// Check that the mapper takes every proposal; drop those it would not.
	kept := props[:0]
	for _, p := range props {
		if _, err := planForColumn(sc.Field(p.col), p.field, planOpts{force2D: true, round: true}); err != nil {
			dropped = append(dropped, fmt.Sprintf("%s (%v)", p.name, err))
			m.Drop = append(m.Drop, p.name)
			continue
		}
		kept = append(kept, p)
	}
	props = kept

	// The time column.
	timeIdx := -1
	var candidates []string
	for _, p := range props {
		if p.field.Type == schema.Timestamp && !p.field.Array {
			candidates = append(candidates, p.name)
		}
	}
	for _, want := range timeColumnNames {
		for k, p := range props {
			if p.field.Type == schema.Timestamp && !p.field.Array && (p.field.Name == want || strings.EqualFold(strings.TrimSpace(p.name), want)) {
				timeIdx = k
				break
			}
		}
		if timeIdx >= 0 {
			break
		}
	}
	if timeIdx < 0 {
		switch len(candidates) {
		case 1:
			for k, p := range props {
				if p.name == candidates[0] {
					timeIdx = k
				}
			}
		case 0:
			if len(props) == 0 {
				return nil, m, fail("no column has a field type (%s)", strings.Join(dropped, "; "))
			}
			if cfg.noTime {
				break
			}
			names := make([]string, len(props))
			for k, p := range props {
				names[k] = fmt.Sprintf("%s (%s)", p.name, p.field.TypeString())
			}
			return nil, m, fail("no timestamp column for the required time field (columns: %s); store times as Arrow timestamps or ISO 8601 text, or give every row one time with --set time=VALUE", strings.Join(names, ", "))
		default:
			return nil, m, fail("which column is the time? %d timestamp columns: %s; rename the one that is to \"time\" (or map it with --map COLUMN=time)", len(candidates), quoteList(candidates))
		}
	}

	// The geometry column: the file's primary one, else a named one.
	geomIdx := -1
	primary := ""
	if geo != nil {
		primary = geo.PrimaryColumn
	}
	for k, p := range props {
		if p.field.Type == schema.Geometry && !p.field.Array && p.name == primary {
			geomIdx = k
		}
	}
	if geomIdx < 0 {
		for k, p := range props {
			if p.field.Type == schema.Geometry && !p.field.Array && (geomIdx < 0 || p.field.Name == schema.FieldGeometry) {
				geomIdx = k
			}
		}
	}
	kind := schema.Temporal
	if geomIdx >= 0 {
		kind = schema.SpatioTemporal
	}

	// Every reserved name is taken, whatever the kind: a column named
	// geometry that holds no geometries must not become a field of that name.
	used := map[string]bool{}
	for _, r := range schema.RequiredFields(schema.SpatioTemporal) {
		used[r.Name] = true
	}
	if cfg.flag != nil {
		for _, p := range props {
			if p.field.Type == schema.Geometry && !p.field.Array && hasZM(sc.Field(p.col), p.field, columnSample(sample, p.col)) {
				cfg.flag("--force-2d")
				break
			}
		}
	}
	var custom []schema.Field
	for k, p := range props {
		f := p.field
		switch k {
		case timeIdx:
			f.Name = schema.FieldTime
		case geomIdx:
			f.Name = schema.FieldGeometry
		default:
			base := f.Name
			for n := 2; used[f.Name]; n++ {
				f.Name = fmt.Sprintf("%s_%d", base, n)
			}
			used[f.Name] = true
			custom = append(custom, f)
		}
		if !strings.EqualFold(strings.TrimSpace(p.name), f.Name) {
			if m.Rename == nil {
				m.Rename = map[string]string{}
			}
			m.Rename[p.name] = f.Name
		}
	}
	name := humanName(codeName)
	ds, err := schema.New("", codeName, name, kind, custom)
	if err != nil {
		return nil, m, fail("proposing a schema: %v", err)
	}
	if len(dropped) > 0 {
		ds.Description = "Columns without a field type (not ingested): " + strings.Join(dropped, "; ")
	}
	if timeIdx >= 0 && props[timeIdx].name != schema.FieldTime {
		for i := range ds.Fields {
			if ds.Fields[i].Name == schema.FieldTime {
				ds.Fields[i].Description = fmt.Sprintf("Timestamp of the datapoint (column %q)", props[timeIdx].name)
			}
		}
	}
	return ds, m, nil
}

func (g *GeoMetadata) columns() []GeoColumn {
	if g == nil {
		return nil
	}
	return g.Columns
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// sampleColumns reads batches until n rows (or the end) and returns them.
func sampleColumns(src Source, n int64) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	var rows int64
	for b, err := range src.Batches() {
		if err != nil {
			for _, r := range out {
				r.Release()
			}
			return nil, err
		}
		b.Record.Retain()
		out = append(out, b.Record)
		rows += b.Record.NumRows()
		if rows >= n {
			break
		}
	}
	return out, nil
}

func columnSample(recs []arrow.RecordBatch, i int) []arrow.Array {
	out := make([]arrow.Array, len(recs))
	for k, r := range recs {
		out[k] = r.Column(i)
	}
	return out
}

// inferColumnType picks a field type for one column, or says why none fits.
func inferColumnType(col arrow.Field, sample []arrow.Array) (t schema.Type, isArray bool, why string) {
	dt := col.Type
	if et, ok := dt.(arrow.ExtensionType); ok {
		if et.ExtensionName() == "arrow.uuid" {
			return schema.UUID, false, ""
		}
		dt = et.StorageType()
	}
	if d, ok := dt.(*arrow.DictionaryType); ok {
		dt = d.ValueType
	}
	geomName := geometryColumnNames[snakeCase(col.Name, 0)]
	switch {
	case isText(dt):
		vals := textValues(sample, inferSampleRows)
		if len(vals) == 0 {
			for _, n := range timeColumnNames {
				if snakeCase(col.Name, 0) == n {
					return schema.Timestamp, false, "" // a header-only file's time column
				}
			}
		}
		if geomName && mostParse(vals, inferGeometry) {
			return schema.Geometry, false, ""
		}
		t, arr := inferText(vals)
		return t, arr, ""
	case isBinary(dt):
		if fs, ok := dt.(*arrow.FixedSizeBinaryType); ok && fs.ByteWidth == 16 {
			return schema.UUID, false, ""
		}
		if geomName && dt.ID() != arrow.FIXED_SIZE_BINARY {
			vals := binaryValues(sample, inferSampleRows)
			if mostParse(vals, inferGeometry) {
				return schema.Geometry, false, ""
			}
		}
		return schema.Bytes, false, ""
	case dt.ID() == arrow.BOOL:
		return schema.Bool, false, ""
	case dt.ID() == arrow.UINT64:
		return schema.Uint64, false, ""
	case isInteger(dt):
		return schema.Int64, false, ""
	case isFloat(dt):
		return schema.Float64, false, ""
	case isDecimal(dt):
		if d, ok := dt.(arrow.DecimalType); ok && d.GetScale() == 0 && d.GetPrecision() <= 18 {
			return schema.Int64, false, ""
		}
		return schema.Float64, false, ""
	case dt.ID() == arrow.TIMESTAMP || dt.ID() == arrow.DATE32 || dt.ID() == arrow.DATE64:
		return schema.Timestamp, false, ""
	case dt.ID() == arrow.DURATION:
		return schema.Duration, false, ""
	case dt.ID() == arrow.STRUCT:
		for _, t := range []schema.Type{schema.Vec3, schema.LatLonAlt, schema.LatLon, schema.Quaternion} {
			if _, err := planFor(dt, schema.Field{Type: t}, planOpts{}); err == nil {
				return t, false, ""
			}
		}
		return schema.TypeUnspecified, false, fmt.Sprintf("%s: structs map only onto vec3, quaternion, latlon or latlonalt", dt)
	case isListLike(dt):
		elem := dt.(arrow.ListLikeType).Elem()
		if isListLike(elem) {
			return schema.TypeUnspecified, false, fmt.Sprintf("%s: nested lists have no field type", dt)
		}
		var elems []arrow.Array
		for _, a := range sample {
			if e, ok := a.(array.ExtensionArray); ok {
				a = e.Storage()
			}
			if ll, ok := a.(array.ListLike); ok {
				elems = append(elems, ll.ListValues())
			}
		}
		et, _, why := inferColumnType(arrow.Field{Name: col.Name, Type: elem}, elems)
		if et == schema.TypeUnspecified || et == schema.Geometry {
			return schema.TypeUnspecified, false, why
		}
		// A fixed-size list of 3 or 4 floats could be a vec3 or quaternion,
		// but an array is what the file says; keep it.
		return et, true, ""
	}
	return schema.TypeUnspecified, false, fmt.Sprintf("%s has no field type", col.Type)
}

func textValues(sample []arrow.Array, limit int) []string {
	var out []string
	for _, a := range sample {
		if e, ok := a.(array.ExtensionArray); ok {
			a = e.Storage()
		}
		get := func(i int) string { return "" }
		var n int
		switch a := a.(type) {
		case *array.Dictionary:
			d := a.Dictionary()
			if !isText(d.DataType()) {
				continue
			}
			dg := textOf(d)
			get, n = func(i int) string { return dg(a.GetValueIndex(i)) }, a.Len()
		default:
			get, n = textOf(a), a.Len()
		}
		for i := 0; i < n && len(out) < limit; i++ {
			if a.IsValid(i) {
				if s := get(i); trim(s) != "" {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

func binaryValues(sample []arrow.Array, limit int) []string {
	var out []string
	for _, a := range sample {
		if e, ok := a.(array.ExtensionArray); ok {
			a = e.Storage()
		}
		if _, ok := a.(*array.Dictionary); ok {
			continue
		}
		get := bytesOf(a)
		for i := 0; i < a.Len() && len(out) < limit; i++ {
			if a.IsValid(i) {
				out = append(out, string(get(i)))
			}
		}
	}
	return out
}

// mostParse reports whether at least half of vals (and one) parse: a
// column named geometry whose values mostly are geometries is one, and
// mapping names the rows that are not.
func mostParse(vals []string, parse func(string) error) bool {
	ok := 0
	for _, v := range vals {
		if parse(v) == nil {
			ok++
		}
	}
	return ok > 0 && 2*ok >= len(vals)
}

func allParse(vals []string, parse func(string) error) bool {
	for _, v := range vals {
		if parse(v) != nil {
			return false
		}
	}
	return true
}

// inferText types text values by the text rules of package ingest (the
// mapper's): the narrowest type every value parses as.
func inferText(vals []string) (schema.Type, bool) {
	if len(vals) == 0 {
		return schema.String, false
	}
	isArray := true
	for _, v := range vals {
		if t := trim(v); t == "null" || (len(t) > 0 && t[0] == '[') {
			continue
		}
		isArray = false
		break
	}
	if isArray {
		var elems []string
		quoted := false
		for _, v := range vals {
			if trim(v) == "null" {
				continue
			}
			es, err := splitArray(v)
			if err != nil {
				return schema.String, false
			}
			for _, e := range es {
				if e.null {
					continue
				}
				quoted = quoted || e.quoted
				elems = append(elems, e.text)
			}
		}
		if quoted {
			return schema.String, true
		}
		if len(elems) == 0 {
			return schema.Float64, true
		}
		t, _ := inferText(elems)
		if t == schema.Geometry || t == schema.String {
			return schema.String, false // not an array literal granary reads
		}
		return t, true
	}
	lower := func(s string) string { return strings.ToLower(trim(s)) }
	switch {
	case allParse(vals, func(s string) error {
		if l := lower(s); l != "true" && l != "false" {
			return errors.New("not a bool word")
		}
		return nil
	}):
		return schema.Bool, false
	case allParse(vals, func(s string) error { _, err := parseInt64(s); return err }):
		return schema.Int64, false
	case allParse(vals, func(s string) error { _, err := parseUint64(s); return err }):
		return schema.Uint64, false
	case allParse(vals, func(s string) error {
		f, err := parseFloat64(s)
		if err == nil && math.IsInf(f, 0) && !strings.Contains(lower(s), "inf") {
			return errors.New("overflow")
		}
		return err
	}):
		return schema.Float64, false
	case allParse(vals, func(s string) error { _, err := parseTimestamp(s); return err }):
		return schema.Timestamp, false
	case allParse(vals, func(s string) error {
		t := trim(s)
		if len(t) < 2 || !(t[0] == 'P' || t[0] == 'p' || t[0] == '-' || unicode.IsDigit(rune(t[0]))) {
			return errors.New("no")
		}
		_, err := parseDuration(s)
		return err
	}):
		return schema.Duration, false
	case allParse(vals, func(s string) error {
		// Only the dashed 8-4-4-4-12 form: 32 bare hex digits are more
		// often a checksum than a UUID.
		if t := trim(s); len(t) != 36 || t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
			return errors.New("not a dashed UUID")
		}
		_, err := parseUUID(s)
		return err
	}):
		return schema.UUID, false
	case allParse(vals, func(s string) error {
		if !looksLikeWKTValue(s) {
			return errors.New("no")
		}
		return inferGeometry(s)
	}):
		return schema.Geometry, false
	}
	return schema.String, false
}

func looksLikeWKTValue(s string) bool {
	u := strings.ToUpper(trim(s))
	if strings.HasPrefix(u, "SRID=") {
		return true
	}
	for _, k := range []string{"POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON", "GEOMETRYCOLLECTION"} {
		if strings.HasPrefix(u, k) {
			return true
		}
	}
	return false
}

// snakeCase turns a column name into a field name: lower snake_case,
// starting with a letter ("Sepal.Length" → sepal_length, "startTime" →
// start_time, "2m temperature" → f_2m_temperature). i names a column
// without letters or digits (column_<i+1>).
func snakeCase(name string, i int) string {
	var b strings.Builder
	rs := []rune(strings.TrimSpace(name))
	underscore := func() {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
			b.WriteByte('_')
		}
	}
	for k, r := range rs {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if unicode.IsUpper(r) {
				prevLower := k > 0 && (unicode.IsLower(rs[k-1]) || unicode.IsDigit(rs[k-1]))
				nextLower := k+1 < len(rs) && unicode.IsLower(rs[k+1]) && k > 0 && unicode.IsUpper(rs[k-1])
				if prevLower || nextLower {
					underscore()
				}
				b.WriteRune(unicode.ToLower(r))
			} else {
				b.WriteRune(r)
			}
		default:
			underscore()
		}
	}
	s := strings.Trim(b.String(), "_")
	if s == "" {
		return fmt.Sprintf("column_%d", i+1)
	}
	if s[0] < 'a' || s[0] > 'z' {
		s = "f_" + s
	}
	if len(s) > 100 {
		s = strings.TrimRight(s[:100], "_")
	}
	return s
}

// humanName makes a dataset name from its code name ("my_data" → "My data").
func humanName(code string) string {
	s := strings.ReplaceAll(code, "_", " ")
	if s == "" {
		return code
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// geometryUnparseable reports whether a column declared as WKB or WKT
// geometry holds values of which none parse (a mislabelled column).
func geometryUnparseable(col arrow.Field, c *GeoColumn, sample []arrow.Array) bool {
	if c == nil || (c.Encoding != encWKB && c.Encoding != encWKT) {
		return false
	}
	vals := geometryValues(col, sample, 100)
	return len(vals) > 0 && !mostParse(vals, inferGeometry)
}

// geometryValues samples up to n values of a text or binary column as
// strings (none for other columns).
func geometryValues(col arrow.Field, sample []arrow.Array, n int) []string {
	dt := col.Type
	if et, ok := dt.(arrow.ExtensionType); ok {
		dt = et.StorageType()
	}
	switch {
	case isText(dt):
		return textValues(sample, n)
	case isBinary(dt) && dt.ID() != arrow.FIXED_SIZE_BINARY:
		return binaryValues(sample, n)
	}
	return nil
}
