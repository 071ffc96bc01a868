package ingest

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

// Mapping adjusts how a file's columns map onto a dataset's fields. By
// default a column maps to the field of the same name (exactly, else
// ignoring case and surrounding spaces); columns named id or
// ingestion_time are ignored, because granary sets those fields.
type Mapping struct {
	// Rename maps source column names to field names (--map src=dst).
	Rename map[string]string
	// Drop lists source columns to ignore (--drop col).
	Drop []string
	// Set gives fields a constant value for every row, written as text the
	// way a CSV cell would be (--set field=value).
	Set map[string]string
}

// ParseMapFlag splits a --map flag "src=dst" at its last '=' (field names
// have none, column names might).
func ParseMapFlag(s string) (src, dst string, err error) {
	i := strings.LastIndexByte(s, '=')
	if i <= 0 || i == len(s)-1 {
		return "", "", fmt.Errorf("--map %q: want COLUMN=FIELD", s)
	}
	return s[:i], strings.TrimSpace(s[i+1:]), nil
}

// ParseSetFlag splits a --set flag "field=value" at its first '=' (values
// such as base64 may contain more).
func ParseSetFlag(s string) (field, value string, err error) {
	i := strings.IndexByte(s, '=')
	if i <= 0 {
		return "", "", fmt.Errorf("--set %q: want FIELD=VALUE", s)
	}
	if i == len(s)-1 {
		return "", "", fmt.Errorf("--set %q: the value is empty", s)
	}
	return strings.TrimSpace(s[:i]), s[i+1:], nil
}

// ParseMapping builds a Mapping from the CLI's repeated --map, --drop and
// --set flags.
func ParseMapping(maps, drops, sets []string) (Mapping, error) {
	var m Mapping
	for _, s := range maps {
		src, dst, err := ParseMapFlag(s)
		if err != nil {
			return m, err
		}
		if m.Rename == nil {
			m.Rename = map[string]string{}
		}
		if prev, ok := m.Rename[src]; ok && prev != dst {
			return m, fmt.Errorf("--map: column %q is mapped twice (to %q and %q)", src, prev, dst)
		}
		m.Rename[src] = dst
	}
	m.Drop = append(m.Drop, drops...)
	for _, s := range sets {
		f, v, err := ParseSetFlag(s)
		if err != nil {
			return m, err
		}
		if m.Set == nil {
			m.Set = map[string]string{}
		}
		if _, ok := m.Set[f]; ok {
			return m, fmt.Errorf("--set: field %q is set twice", f)
		}
		m.Set[f] = v
	}
	return m, nil
}

// Stats counts what mapping changed beyond converting types.
type Stats struct {
	// Rows is the number of rows mapped.
	Rows int64
	// Padding counts trailing fill values (null, NaN, NaT) stripped from
	// fixed_size_list rows.
	Padding int64
	// NullElements counts null elements dropped from inside arrays
	// (variable-length lists and array literals have no padding, so a null
	// there is simply absent).
	NullElements int64
	// GeometriesSplit counts geometries cut at the antimeridian, and
	// RingsRewound rings whose winding was reversed (see WithoutGeometryFix).
	GeometriesSplit int64
	RingsRewound    int64
	// GeometriesFlattened counts geometries whose Z and M ordinates were
	// dropped (WithForce2D).
	GeometriesFlattened int64
}

// Add adds o to s, e.g. to total the stats of several files.
func (s *Stats) Add(o Stats) {
	s.Rows += o.Rows
	s.Padding += o.Padding
	s.NullElements += o.NullElements
	s.GeometriesSplit += o.GeometriesSplit
	s.RingsRewound += o.RingsRewound
	s.GeometriesFlattened += o.GeometriesFlattened
}

// Mapper converts batches of one source schema into records of a
// dataset's canonical Arrow schema.
type Mapper struct {
	noFix   bool // keep geometries as given (still validated)
	force2D bool // drop Z and M ordinates of geometries
	file    string
	mem     memory.Allocator
	src     *arrow.Schema
	out     *arrow.Schema
	cols    []mapped
	stats   Stats
}

type mapped struct {
	field  schema.Field
	dt     arrow.DataType // canonical
	src    int            // source column index; -1 for a constant
	name   string         // source column name
	plan   *plan
	srcDT  arrow.DataType
	flat   bool          // geometries in WKB/WKT/GeoJSON to make 2-D first (WithForce2D)
	value  scalar.Scalar // the constant of a --set field
	setRaw string
}

// mapperPoolRetain bounds the freed buffers a Mapper keeps for reuse.
const mapperPoolRetain = 16 << 20

// NewMapper matches the columns of src to the fields of ds, as adjusted
// by m, and plans the conversion of each. file names the input in errors.
// Only WithAllocator of the options matters here.
//
// Errors (all *Error): a column that matches no field (unless dropped), a
// --map/--drop naming no column, two columns for one field, a column
// whose type has no conversion to its field's type, a --set value that
// does not parse, and no column or --set for the required time field.
func NewMapper(src *arrow.Schema, ds *schema.Dataset, m Mapping, file string, opts ...Option) (*Mapper, error) {
	o := newOptions(opts)
	mem := o.mem
	if mem == memory.DefaultAllocator {
		// Converted columns (rescaled times, parsed text) are the same few
		// sizes batch after batch: reuse their buffers.
		mem = NewPoolAllocator(mapperPoolRetain)
	}
	mp := &Mapper{file: file, mem: mem, src: src, noFix: o.noGeoFix, force2D: o.force2D}
	fail := func(column string, format string, args ...any) error {
		return &Error{File: file, Column: column, Err: fmt.Errorf(format, args...)}
	}
	cols := src.Fields()

	dropped := make([]bool, len(cols))
	for _, d := range m.Drop {
		idx := matchColumns(cols, d)
		if len(idx) == 0 {
			return nil, fail("", "--drop %q: no such column (columns: %s)", d, columnList(cols))
		}
		for _, i := range idx {
			dropped[i] = true
		}
	}
	renamed := map[int]string{}
	for _, s := range sortedKeys(m.Rename) {
		dst := m.Rename[s]
		idx := matchColumns(cols, s)
		if len(idx) == 0 {
			return nil, fail("", "--map %s=%s: no such column (columns: %s)", s, dst, columnList(cols))
		}
		for _, i := range idx {
			if dropped[i] {
				return nil, fail(cols[i].Name, "the column is both mapped (--map %s=%s) and dropped", s, dst)
			}
			renamed[i] = dst
		}
	}

	byField := map[string]int{} // field name → source column
	var unmatched []string
	// The file's primary geometry column (GeoParquet, GeoArrow) fills the
	// dataset's geometry field when no column has that name.
	primaryGeo := ""
	if g, ok := ds.Field(schema.FieldGeometry); ok && g.Type == schema.Geometry && !g.Array && len(matchColumns(cols, schema.FieldGeometry)) == 0 {
		primaryGeo = primaryGeometryColumn(src)
		for _, dst := range m.Rename {
			if strings.EqualFold(strings.TrimSpace(dst), schema.FieldGeometry) {
				primaryGeo = "" // the user said which column
			}
		}
	}
	covering := map[string]bool{} // GeoParquet covering columns
	if g, _ := schemaGeo(src, nil, nil); g != nil {
		for _, gc := range g.Columns {
			for _, name := range gc.Covering {
				covering[name] = true
			}
		}
	}
	for i, c := range cols {
		if dropped[i] {
			continue
		}
		target, explicit := renamed[i]
		if covering[c.Name] && !explicit {
			continue // the geometry's bounding boxes: derived, like id
		}
		if !explicit {
			target = c.Name
			if strings.TrimSpace(c.Name) == "" {
				return nil, fail("", "column %d has no name; name it in the file, or drop it with --drop %q", i+1, c.Name)
			}
		}
		f, ok := findField(ds, target)
		if !ok && !explicit && primaryGeo != "" && c.Name == primaryGeo {
			f, ok = ds.Field(schema.FieldGeometry)
		}
		if !ok {
			if explicit {
				return nil, fail(c.Name, "--map %s=%s: dataset %s has no field %q (fields: %s)", c.Name, target, ds.Slug(), target, fieldList(ds))
			}
			unmatched = append(unmatched, c.Name)
			continue
		}
		if f.Name == schema.FieldID || f.Name == schema.FieldIngestionTime {
			if explicit {
				return nil, fail(c.Name, "cannot map onto %q: granary sets that field itself", f.Name)
			}
			continue // an exported file's id and ingestion_time: granary recomputes them
		}
		if prev, taken := byField[f.Name]; taken {
			return nil, fail(c.Name, "columns %q (column %d) and %q (column %d) both map to field %q; drop one with --drop or rename it with --map", cols[prev].Name, prev+1, c.Name, i+1, f.Name)
		}
		byField[f.Name] = i
	}
	if len(unmatched) > 0 {
		q := make([]string, len(unmatched))
		for i, u := range unmatched {
			q[i] = fmt.Sprintf("%q", u)
		}
		col, what := "", "columns "+strings.Join(q, ", ")+" match"
		if len(unmatched) == 1 {
			col, what = unmatched[0], "matches"
		}
		return nil, fail(col, "%s no field of dataset %s (fields: %s); map with --map COLUMN=FIELD or ignore with --drop COLUMN", what, ds.Slug(), fieldList(ds))
	}

	sets := map[string]string{}
	for _, name := range sortedKeys(m.Set) {
		f, ok := findField(ds, name)
		if !ok {
			return nil, fail("", "--set %s: dataset %s has no field %q (fields: %s)", name, ds.Slug(), name, fieldList(ds))
		}
		if f.Name == schema.FieldID || f.Name == schema.FieldIngestionTime {
			return nil, fail("", "--set %s: granary sets that field itself", f.Name)
		}
		if i, taken := byField[f.Name]; taken {
			return nil, fail(cols[i].Name, "field %q comes from this column and from --set %s; drop the column or the --set", f.Name, name)
		}
		if _, dup := sets[f.Name]; dup {
			return nil, fail("", "--set: field %q is set twice", f.Name)
		}
		sets[f.Name] = m.Set[name]
	}

	if _, ok := byField[schema.FieldTime]; !ok {
		if _, ok := sets[schema.FieldTime]; !ok {
			return nil, fail("", "no column for the required field %q (columns: %s); rename one with --map COLUMN=time or give every row the same time with --set time=VALUE", schema.FieldTime, columnList(cols))
		}
	}

	var outFields []arrow.Field
	for _, f := range ds.Fields {
		dt := schema.ArrowType(f)
		c := mapped{field: f, dt: dt, src: -1}
		if i, ok := byField[f.Name]; ok {
			c.src, c.name, c.srcDT = i, cols[i].Name, cols[i].Type
			p, err := planForColumn(cols[i], f, planOpts{force2D: o.force2D, round: o.round})
			if err != nil {
				return nil, fail(cols[i].Name, "field %q: %v", f.Name, err)
			}
			c.plan = p
			// Native GeoArrow coordinates are read as x/y by the plan;
			// encoded geometries are rewritten before it.
			c.flat = o.force2D && f.Type == schema.Geometry && !f.Array && !isNativeGeoColumn(cols[i])
		} else if v, ok := sets[f.Name]; ok {
			if o.force2D && f.Type == schema.Geometry && !f.Array {
				if flat, changed, err := geo.Force2D([]byte(v)); err == nil && changed {
					v = string(flat)
				}
			}
			sc, err := constant(f, v)
			if err != nil {
				return nil, fail("", "--set %s=%s: cannot parse %q as %s: %v", f.Name, v, clip(v), f.TypeString(), err)
			}
			c.value, c.setRaw = sc, v
		} else {
			continue
		}
		mp.cols = append(mp.cols, c)
		outFields = append(outFields, arrow.Field{Name: f.Name, Type: dt, Nullable: true})
	}
	mp.out = arrow.NewSchema(outFields, nil)
	return mp, nil
}

// constant parses a --set value with the text rules of f's type.
func constant(f schema.Field, v string) (scalar.Scalar, error) {
	if trim(v) == "" && f.Type != schema.String {
		return nil, errors.New("the value is empty")
	}
	mem := memory.NewGoAllocator() // garbage-collected: the scalar lives as long as the Mapper
	sb := array.NewStringBuilder(mem)
	sb.Append(v)
	in := sb.NewArray()
	var p *plan
	if f.Array {
		p = textArrayPlan(f.Type)
	} else {
		p = textPlan(f.Type)
	}
	b := array.NewBuilder(mem, schema.ArrowType(f))
	var st Stats
	if err := p.bind(in, b, &st)(0); err != nil {
		return nil, err
	}
	arr := b.NewArray()
	return scalar.GetScalar(arr, 0)
}

// matchColumns finds the columns named name exactly, else those whose name
// matches ignoring case and surrounding spaces.
func matchColumns(cols []arrow.Field, name string) []int {
	var idx []int
	for i, c := range cols {
		if c.Name == name {
			idx = append(idx, i)
		}
	}
	if len(idx) > 0 {
		return idx
	}
	n := strings.TrimSpace(name)
	for i, c := range cols {
		if n != "" && strings.EqualFold(strings.TrimSpace(c.Name), n) {
			idx = append(idx, i)
		}
	}
	return idx
}

// findField finds the field named name exactly, else ignoring case and
// surrounding spaces.
func findField(ds *schema.Dataset, name string) (schema.Field, bool) {
	if f, ok := ds.Field(name); ok {
		return f, true
	}
	n := strings.TrimSpace(name)
	for _, f := range ds.Fields {
		if strings.EqualFold(f.Name, n) {
			return f, true
		}
	}
	return schema.Field{}, false
}

func fieldList(ds *schema.Dataset) string {
	var names []string
	for _, f := range ds.Fields {
		if f.Name != schema.FieldID && f.Name != schema.FieldIngestionTime {
			names = append(names, f.Name)
		}
	}
	return strings.Join(names, ", ")
}

func columnList(cols []arrow.Field) string {
	if len(cols) == 0 {
		return "none"
	}
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = fmt.Sprintf("%q", c.Name)
	}
	return strings.Join(q, ", ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Schema is the canonical schema of the records Map returns: the mapped
// fields (columns and --set constants) in the dataset's field order, named
// as the fields, typed by schema.ArrowType.
func (m *Mapper) Schema() *arrow.Schema { return m.out }

// Stats returns the totals over every batch mapped so far.
func (m *Mapper) Stats() Stats { return m.stats }

// Assignment says where one field's values come from.
type Assignment struct {
	Field    string
	Column   string // source column, "" for a constant
	Constant string // the --set text, if any
}

// Assignments lists the mapped fields in output order.
func (m *Mapper) Assignments() []Assignment {
	out := make([]Assignment, len(m.cols))
	for i, c := range m.cols {
		out[i] = Assignment{Field: c.field.Name, Column: c.name, Constant: c.setRaw}
	}
	return out
}

// Map converts one batch into a record of the canonical schema (see
// Schema). The caller releases the record. The first value that does not
// convert fails the whole batch with an *Error naming file, row, line
// (CSV), column and value.
func (m *Mapper) Map(b Batch) (out arrow.RecordBatch, err error) {
	rec := b.Record
	if rec == nil {
		return nil, &Error{File: m.file, Err: errors.New("map: no record")}
	}
	if int(rec.NumCols()) != m.src.NumFields() {
		return nil, &Error{File: m.file, Err: fmt.Errorf("map: the batch has %d columns, the mapper was made for %d", rec.NumCols(), m.src.NumFields())}
	}
	n := int(rec.NumRows())
	cols := make([]arrow.Array, 0, len(m.cols))
	var st Stats // this batch's; added to the totals only if it all maps
	var bld array.Builder
	defer func() {
		if r := recover(); r != nil {
			err = &Error{File: m.file, Err: fmt.Errorf("map: internal error on malformed input: %v", r)}
		}
		if err != nil {
			if bld != nil {
				bld.Release()
			}
			for _, c := range cols {
				c.Release()
			}
			out = nil
		}
	}()
	for _, c := range m.cols {
		if c.src < 0 {
			a, err := scalar.MakeArrayFromScalar(c.value, n, m.mem)
			if err != nil {
				return nil, &Error{File: m.file, Err: fmt.Errorf("--set %s: %v", c.field.Name, err)}
			}
			cols = append(cols, a)
			continue
		}
		src := rec.Column(c.src)
		if !arrow.TypeEqual(src.DataType(), c.srcDT) {
			return nil, &Error{File: m.file, Column: c.name, Err: fmt.Errorf("map: the batch's column has type %s, the mapper was made for %s", src.DataType(), c.srcDT)}
		}
		if c.flat {
			flat, k := force2DColumn(src, m.mem)
			defer flat.Release()
			src = flat
			st.GeometriesFlattened += k
		}
		if c.plan.same != nil {
			if a := c.plan.same(src, c.dt); a != nil {
				// A geometry column passes through only when no value needs
				// a fix (sameGeometry checked), so fixColumn is not needed.
				cols = append(cols, a)
				continue
			}
		}
		if c.plan.bulk != nil {
			if a := c.plan.bulk(src, c.dt, m.mem); a != nil {
				cols = append(cols, a)
				if err := m.fixColumn(cols, c, b, &st); err != nil {
					return nil, err
				}
				continue
			}
		}
		bld = array.NewBuilder(m.mem, c.dt)
		bld.Reserve(n)
		fn := c.plan.bind(src, bld, &st)
		for i := 0; i < n; i++ {
			if cerr := fn(i); cerr != nil {
				return nil, &Error{
					File: m.file, Row: b.FirstRow + int64(i), Line: b.Line(i), Column: c.name,
					Value: clip(valueText(src, i)), Target: c.field.TypeString(), Err: plainErr(cerr), parse: c.plan.text,
				}
			}
		}
		cols = append(cols, bld.NewArray())
		bld.Release()
		bld = nil
		if err := m.fixColumn(cols, c, b, &st); err != nil {
			return nil, err
		}
	}
	out = array.NewRecordBatch(m.out, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	cols = nil
	st.Rows = int64(n)
	m.stats.Add(st)
	return out, nil
}

// valueText is row i of a column as text, for error messages.
func valueText(src arrow.Array, i int) (s string) {
	defer func() {
		if recover() != nil {
			s = "?"
		}
	}()
	switch a := src.(type) {
	case *array.String, *array.LargeString, *array.StringView:
		return textOf(a)(i)
	case *array.Dictionary:
		return valueText(a.Dictionary(), a.GetValueIndex(i))
	case array.ExtensionArray:
		return valueText(a.Storage(), i)
	}
	return src.ValueStr(i)
}
