package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

// A cellFunc appends the converted value of row i of the source column it
// was bound to onto the builder it was bound to.
type cellFunc func(i int) error

// plan converts one source column type into one field's canonical type.
type plan struct {
	// text: the source values are text (errors say "cannot parse").
	text bool
	// bind makes the per-row conversion for one batch's column.
	bind func(src arrow.Array, b array.Builder, st *Stats) cellFunc
	// same, if set, returns src as the canonical type without copying when
	// every value converts unchanged, or nil.
	same func(src arrow.Array, dt arrow.DataType) arrow.Array
	// bulk, if set, converts a whole column at once in a tight loop (no
	// per-value call), or returns nil when some value needs bind (which
	// maps it or reports the error).
	bulk func(src arrow.Array, dt arrow.DataType, mem memory.Allocator) arrow.Array
	// missing, if set, reports values that mean "no value" although they
	// are not null (pandas' NaT); they map to null.
	missing func(src arrow.Array) func(i int) bool
	// fill, if set, reports fill values (NaN) that pad fixed-size lists.
	fill func(src arrow.Array) func(i int) bool
}

// planFor picks the conversion from source type dt to field f, or explains
// why there is none.
// planOpts are the conversions a user asked for explicitly.
type planOpts struct {
	force2D bool // drop Z and M of geometries (WithForce2D)
	round   bool // round to the nearest float64 (WithRoundedFloats)
}

func planFor(dt arrow.DataType, f schema.Field, po planOpts) (*plan, error) {
	switch d := dt.(type) {
	case arrow.ExtensionType:
		p, err := planFor(d.StorageType(), f, po)
		if err != nil {
			return nil, err
		}
		return extensionPlan(p), nil
	case *arrow.DictionaryType:
		p, err := planFor(d.ValueType, f, po)
		if err != nil {
			return nil, err
		}
		return dictionaryPlan(p), nil
	}
	if dt.ID() == arrow.NULL {
		return nil, errors.New("the column has the null type (no values to convert)")
	}
	if f.Array {
		return arrayPlan(dt, f, po)
	}
	if isText(dt) {
		return textPlan(f.Type), nil
	}
	switch f.Type {
	case schema.String:
		return stringPlan(dt)
	case schema.Int64:
		return int64Plan(dt)
	case schema.Uint64:
		return uint64Plan(dt)
	case schema.Float64:
		return float64Plan(dt, po.round)
	case schema.Bool:
		if dt.ID() == arrow.BOOL {
			return &plan{same: sameIfEqual, bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
				a, out := src.(*array.Boolean), b.(*array.BooleanBuilder)
				return func(i int) error {
					if a.IsNull(i) {
						out.AppendNull()
					} else {
						out.Append(a.Value(i))
					}
					return nil
				}
			}}, nil
		}
	case schema.Bytes:
		if isBinary(dt) {
			return &plan{same: sameIfEqual, bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
				get, out := bytesOf(src), b.(*array.BinaryBuilder)
				return func(i int) error {
					if src.IsNull(i) {
						out.AppendNull()
					} else {
						out.Append(get(i))
					}
					return nil
				}
			}}, nil
		}
	case schema.Timestamp:
		return timestampPlan(dt)
	case schema.Duration:
		return durationPlan(dt)
	case schema.UUID:
		return uuidPlan(dt)
	case schema.Geometry:
		if isBinary(dt) && dt.ID() != arrow.FIXED_SIZE_BINARY {
			return &plan{same: sameGeometry, bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
				get, out := bytesOf(src), b.(*array.BinaryBuilder)
				return func(i int) error {
					if src.IsNull(i) {
						out.AppendNull()
						return nil
					}
					w, err := geometryWKB(get(i))
					if err != nil {
						return err
					}
					out.Append(w)
					return nil
				}
			}}, nil
		}
	case schema.Vec3, schema.Quaternion, schema.LatLon, schema.LatLonAlt:
		return tuplePlan(dt, f.Type, po)
	}
	return nil, noConversion(dt, f)
}

func noConversion(dt arrow.DataType, f schema.Field) error {
	hint := ""
	switch {
	case isFloat(dt) && (f.Type == schema.Int64 || f.Type == schema.Uint64):
		hint = " (a float into an integer field could lose data; make the field float64)"
	case isInteger(dt) && (f.Type == schema.Timestamp || f.Type == schema.Duration):
		hint = " (a bare number has no unit; store the column as an Arrow timestamp/duration or as ISO 8601 text)"
	case isListLike(dt) && !f.Array:
		hint = fmt.Sprintf(" (the column holds lists; declare the field as %s[])", f.Type)
	}
	return fmt.Errorf("no conversion from %s to %s%s", dt, f.TypeString(), hint)
}

// sameIfEqual passes src through when it already has the canonical type.
func sameIfEqual(src arrow.Array, dt arrow.DataType) arrow.Array {
	if arrow.TypeEqual(src.DataType(), dt) {
		src.Retain()
		return src
	}
	return nil
}

// retype shares src's buffers under the canonical type dt (same layout).
func retype(src arrow.Array, dt arrow.DataType) arrow.Array {
	d := src.Data()
	nd := array.NewData(dt, d.Len(), d.Buffers(), d.Children(), d.NullN(), d.Offset())
	defer nd.Release()
	return array.MakeFromData(nd)
}

func extensionPlan(p *plan) *plan {
	storage := func(src arrow.Array) arrow.Array {
		if e, ok := src.(array.ExtensionArray); ok {
			return e.Storage()
		}
		return src
	}
	q := &plan{text: p.text, bind: func(src arrow.Array, b array.Builder, st *Stats) cellFunc {
		return p.bind(storage(src), b, st)
	}}
	if p.same != nil {
		q.same = func(src arrow.Array, dt arrow.DataType) arrow.Array { return p.same(storage(src), dt) }
	}
	if p.missing != nil {
		q.missing = func(src arrow.Array) func(int) bool { return p.missing(storage(src)) }
	}
	if p.fill != nil {
		q.fill = func(src arrow.Array) func(int) bool { return p.fill(storage(src)) }
	}
	return q
}

func dictionaryPlan(p *plan) *plan {
	q := &plan{text: p.text, bind: func(src arrow.Array, b array.Builder, st *Stats) cellFunc {
		d := src.(*array.Dictionary)
		inner := p.bind(d.Dictionary(), b, st)
		return func(i int) error {
			if d.IsNull(i) {
				b.AppendNull()
				return nil
			}
			return inner(d.GetValueIndex(i))
		}
	}}
	through := func(f func(arrow.Array) func(int) bool) func(arrow.Array) func(int) bool {
		return func(src arrow.Array) func(int) bool {
			d := src.(*array.Dictionary)
			g := f(d.Dictionary())
			return func(i int) bool { return d.IsValid(i) && g(d.GetValueIndex(i)) }
		}
	}
	if p.missing != nil {
		q.missing = through(p.missing)
	}
	if p.fill != nil {
		q.fill = through(p.fill)
	}
	return q
}

// ---- type classes and accessors

func isText(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	}
	return false
}

func isBinary(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW, arrow.FIXED_SIZE_BINARY:
		return true
	}
	return false
}

func isSigned(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return true
	}
	return false
}

func isUnsigned(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

func isInteger(dt arrow.DataType) bool { return isSigned(dt) || isUnsigned(dt) }

func isFloat(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

func isDecimal(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128, arrow.DECIMAL256:
		return true
	}
	return false
}

func isListLike(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.LIST_VIEW, arrow.LARGE_LIST_VIEW:
		return true
	}
	return false
}

// textOf reads the (valid) rows of a string column.
func textOf(src arrow.Array) func(int) string {
	switch a := src.(type) {
	case *array.String:
		return a.Value
	case *array.LargeString:
		return a.Value
	case *array.StringView:
		return a.Value
	}
	panic(fmt.Sprintf("ingest: %s is not a string array", src.DataType()))
}

// bytesOf reads the (valid) rows of a binary column.
func bytesOf(src arrow.Array) func(int) []byte {
	switch a := src.(type) {
	case *array.Binary:
		return a.Value
	case *array.LargeBinary:
		return a.Value
	case *array.BinaryView:
		return a.Value
	case *array.FixedSizeBinary:
		return a.Value
	}
	panic(fmt.Sprintf("ingest: %s is not a binary array", src.DataType()))
}

func signedOf(src arrow.Array) func(int) int64 {
	switch a := src.(type) {
	case *array.Int8:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int16:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int32:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int64:
		return a.Value
	}
	return nil
}

func unsignedOf(src arrow.Array) func(int) uint64 {
	switch a := src.(type) {
	case *array.Uint8:
		return func(i int) uint64 { return uint64(a.Value(i)) }
	case *array.Uint16:
		return func(i int) uint64 { return uint64(a.Value(i)) }
	case *array.Uint32:
		return func(i int) uint64 { return uint64(a.Value(i)) }
	case *array.Uint64:
		return a.Value
	}
	return nil
}

// floatOf widens float16/32/64 values to float64 (exactly).
func floatOf(src arrow.Array) func(int) float64 {
	switch a := src.(type) {
	case *array.Float16:
		return func(i int) float64 { return float64(a.Value(i).Float32()) }
	case *array.Float32:
		return func(i int) float64 { return float64(a.Value(i)) }
	case *array.Float64:
		return a.Value
	}
	return nil
}

// decimalOf reads decimal values exactly.
func decimalOf(src arrow.Array) func(int) *big.Rat {
	type valueStr interface{ ValueStr(int) string }
	a := src.(valueStr)
	return func(i int) *big.Rat {
		r, ok := new(big.Rat).SetString(a.ValueStr(i))
		if !ok {
			return nil
		}
		return r
	}
}

// ---- text

// textPlan parses strings as field type t (see text.go for the rules). An
// empty or blank string is null for every type but string.
func textPlan(t schema.Type) *plan {
	return &plan{text: true, bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
		get, parse := textOf(src), textAppender(t, b)
		return func(i int) error {
			if src.IsNull(i) {
				b.AppendNull()
				return nil
			}
			s := get(i)
			if t != schema.String && trim(s) == "" {
				b.AppendNull()
				return nil
			}
			return parse(s)
		}
	}, same: func(src arrow.Array, dt arrow.DataType) arrow.Array {
		if t == schema.String {
			if a, ok := src.(*array.String); ok && validUTF8(a) {
				a.Retain()
				return a
			}
		}
		return nil
	}}
}

// validUTF8 reports whether every value of a is valid UTF-8.
func validUTF8(a *array.String) bool {
	if isASCII(a.ValueBytes()) {
		return true
	}
	for i := 0; i < a.Len(); i++ {
		if a.IsValid(i) && !utf8.ValidString(a.Value(i)) {
			return false
		}
	}
	return true
}

// isASCII reports whether b holds only ASCII bytes, eight at a time.
func isASCII(b []byte) bool {
	const high = 0x8080808080808080
	var acc uint64
	for len(b) >= 32 {
		acc |= binary.LittleEndian.Uint64(b) | binary.LittleEndian.Uint64(b[8:]) |
			binary.LittleEndian.Uint64(b[16:]) | binary.LittleEndian.Uint64(b[24:])
		b = b[32:]
	}
	for len(b) >= 8 {
		acc |= binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	for _, c := range b {
		acc |= uint64(c)
	}
	return acc&high == 0
}

var errNotUTF8 = errors.New("not valid UTF-8 (string fields hold text)")

// textAppender returns a function that parses one non-blank string as t
// and appends it to b, which must be the canonical builder of t.
func textAppender(t schema.Type, b array.Builder) func(string) error {
	switch t {
	case schema.String:
		out := b.(*array.StringBuilder)
		return func(s string) error {
			if !utf8.ValidString(s) {
				return errNotUTF8
			}
			out.Append(s)
			return nil
		}
	case schema.Int64:
		out := b.(*array.Int64Builder)
		return func(s string) error {
			v, err := parseInt64(s)
			if err == nil {
				out.Append(v)
			}
			return err
		}
	case schema.Uint64:
		out := b.(*array.Uint64Builder)
		return func(s string) error {
			v, err := parseUint64(s)
			if err == nil {
				out.Append(v)
			}
			return err
		}
	case schema.Float64:
		out := b.(*array.Float64Builder)
		return func(s string) error {
			v, err := parseFloat64(s)
			if err == nil {
				out.Append(v)
			}
			return err
		}
	case schema.Bool:
		out := b.(*array.BooleanBuilder)
		return func(s string) error {
			v, err := parseBool(s)
			if err == nil {
				out.Append(v)
			}
			return err
		}
	case schema.Bytes:
		out := b.(*array.BinaryBuilder)
		return func(s string) error {
			v, err := parseBytes(s)
			if err == nil {
				out.Append(v)
			}
			return err
		}
	case schema.Timestamp:
		out := b.(*array.TimestampBuilder)
		return func(s string) error {
			v, err := parseTimestamp(s)
			if err == nil {
				out.Append(arrow.Timestamp(v))
			}
			return err
		}
	case schema.Duration:
		out := b.(*array.DurationBuilder)
		return func(s string) error {
			v, err := parseDuration(s)
			if err == nil {
				out.Append(arrow.Duration(v))
			}
			return err
		}
	case schema.UUID:
		out := b.(*array.FixedSizeBinaryBuilder)
		return func(s string) error {
			v, err := parseUUID(s)
			if err == nil {
				out.Append(v[:])
			}
			return err
		}
	case schema.Geometry:
		out := b.(*array.BinaryBuilder)
		return func(s string) error {
			v, err := geometryWKB([]byte(s))
			if err == nil {
				out.Append(v)
			}
			return err
		}
	case schema.Vec3, schema.Quaternion, schema.LatLon, schema.LatLonAlt:
		out := b.(*array.StructBuilder)
		names := schema.StructFields(t)
		kids := make([]*array.Float64Builder, len(names))
		for k := range kids {
			kids[k] = out.FieldBuilder(k).(*array.Float64Builder)
		}
		return func(s string) error {
			v, err := parseTuple(s, names)
			if err != nil {
				return err
			}
			out.Append(true)
			for k, x := range v {
				kids[k].Append(x)
			}
			return nil
		}
	}
	panic(fmt.Sprintf("ingest: no text conversion to %v", t))
}

// ---- string, integers, floats

func stringPlan(dt arrow.DataType) (*plan, error) {
	if !isBinary(dt) || dt.ID() == arrow.FIXED_SIZE_BINARY {
		return nil, noConversion(dt, schema.Field{Type: schema.String})
	}
	return &plan{bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
		get, out := bytesOf(src), b.(*array.StringBuilder)
		return func(i int) error {
			if src.IsNull(i) {
				out.AppendNull()
				return nil
			}
			v := get(i)
			if !utf8.Valid(v) {
				return errNotUTF8
			}
			out.BinaryBuilder.Append(v)
			return nil
		}
	}}, nil
}

var errOverflow = errors.New("out of range")

func int64Plan(dt arrow.DataType) (*plan, error) {
	switch {
	case isSigned(dt):
		return &plan{same: sameIfEqual, bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
			get, out := signedOf(src), b.(*array.Int64Builder)
			return func(i int) error {
				if src.IsNull(i) {
					out.AppendNull()
				} else {
					out.Append(get(i))
				}
				return nil
			}
		}}, nil
	case isUnsigned(dt):
		return &plan{bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
			get, out := unsignedOf(src), b.(*array.Int64Builder)
			return func(i int) error {
				if src.IsNull(i) {
					out.AppendNull()
					return nil
				}
				v := get(i)
				if v > math.MaxInt64 {
					return fmt.Errorf("%w for int64", errOverflow)
				}
				out.Append(int64(v))
				return nil
			}
		}}, nil
	case isDecimal(dt):
		return &plan{bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
			get, out := decimalOf(src), b.(*array.Int64Builder)
			return func(i int) error {
				if src.IsNull(i) {
					out.AppendNull()
					return nil
				}
				r := get(i)
				if r == nil || !r.IsInt() {
					return errors.New("has a fractional part")
				}
				if !r.Num().IsInt64() {
					return fmt.Errorf("%w for int64", errOverflow)
				}
				out.Append(r.Num().Int64())
				return nil
			}
		}}, nil
	}
	return nil, noConversion(dt, schema.Field{Type: schema.Int64})
}

func uint64Plan(dt arrow.DataType) (*plan, error) {
	switch {
	case isUnsigned(dt):
		return &plan{same: sameIfEqual, bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
			get, out := unsignedOf(src), b.(*array.Uint64Builder)
			return func(i int) error {
				if src.IsNull(i) {
					out.AppendNull()
				} else {
					out.Append(get(i))
				}
				return nil
			}
		}}, nil
	case isSigned(dt):
		return &plan{bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
			get, out := signedOf(src), b.(*array.Uint64Builder)
			return func(i int) error {
				if src.IsNull(i) {
					out.AppendNull()
					return nil
				}
				v := get(i)
				if v < 0 {
					return errors.New("negative value in an unsigned field")
				}
				out.Append(uint64(v))
				return nil
			}
		}}, nil
	case isDecimal(dt):
		return &plan{bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
			get, out := decimalOf(src), b.(*array.Uint64Builder)
			return func(i int) error {
				if src.IsNull(i) {
					out.AppendNull()
					return nil
				}
				r := get(i)
				if r == nil || !r.IsInt() {
					return errors.New("has a fractional part")
				}
				if r.Sign() < 0 {
					return errors.New("negative value in an unsigned field")
				}
				if !r.Num().IsUint64() {
					return fmt.Errorf("%w for uint64", errOverflow)
				}
				out.Append(r.Num().Uint64())
				return nil
			}
		}}, nil
	}
	return nil, noConversion(dt, schema.Field{Type: schema.Uint64})
}

// WithRoundFloats converts values that a float64 field cannot hold exactly
// (decimals such as 19.99, integers beyond ±2^53) to the nearest float64
// instead of refusing them: granary rounds nothing unasked. Mapping
// options only.
func WithRoundFloats() Option { return func(o *options) { o.round = true } }

// canonicalNaN is the one NaN granary stores, Python's and NumPy's quiet
// NaN. Writers differ in NaN payloads (Go's math.NaN() is another, a
// float16 NaN widens to yet another) and a CSV's "NaN" carries none, so
// without one spelling the same row would get other bytes and another ID
// depending on the file it came from.
const canonicalNaN = 0x7ff8000000000000

func canonNaN(v float64) float64 {
	if v != v {
		return math.Float64frombits(canonicalNaN)
	}
	return v
}

// sameFloat64 passes a float64 column through unless it holds a NaN of
// another spelling.
func sameFloat64(src arrow.Array, dt arrow.DataType) arrow.Array {
	if a, ok := src.(*array.Float64); ok {
		for _, v := range a.Float64Values() {
			if v != v && math.Float64bits(v) != canonicalNaN {
				return nil
			}
		}
	}
	return sameIfEqual(src, dt)
}

var errInexact = errors.New("not exactly representable as float64 (--round-floats rounds it to the nearest)")

func float64Plan(dt arrow.DataType, round bool) (*plan, error) {
	nan := func(src arrow.Array) func(int) bool {
		get := floatOf(src)
		return func(i int) bool { return math.IsNaN(get(i)) }
	}
	switch {
	case isFloat(dt):
		return &plan{same: sameFloat64, fill: nan, bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
			get, out := floatOf(src), b.(*array.Float64Builder)
			return func(i int) error {
				if src.IsNull(i) {
					out.AppendNull()
				} else {
					out.Append(canonNaN(get(i)))
				}
				return nil
			}
		}}, nil
	case isSigned(dt):
		return &plan{bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
			get, out := signedOf(src), b.(*array.Float64Builder)
			return func(i int) error {
				if src.IsNull(i) {
					out.AppendNull()
					return nil
				}
				v := get(i)
				f := float64(v)
				if !round && (f >= 0x1p63 || int64(f) != v) {
					return errInexact
				}
				out.Append(f)
				return nil
			}
		}}, nil
	case isUnsigned(dt):
		return &plan{bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
			get, out := unsignedOf(src), b.(*array.Float64Builder)
			return func(i int) error {
				if src.IsNull(i) {
					out.AppendNull()
					return nil
				}
				v := get(i)
				f := float64(v)
				if !round && (f >= 0x1p64 || uint64(f) != v) {
					return errInexact
				}
				out.Append(f)
				return nil
			}
		}}, nil
	case isDecimal(dt):
		return &plan{bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
			get, out := decimalOf(src), b.(*array.Float64Builder)
			return func(i int) error {
				if src.IsNull(i) {
					out.AppendNull()
					return nil
				}
				r := get(i)
				if r == nil {
					return errors.New("bad decimal")
				}
				f, exact := r.Float64()
				if !exact && !round {
					return errInexact
				}
				out.Append(f)
				return nil
			}
		}}, nil
	}
	return nil, noConversion(dt, schema.Field{Type: schema.Float64})
}

// ---- times

// nat is pandas' NaT ("not a time"): the smallest int64 in any unit.
const nat = math.MinInt64

// unitFactor is the number of nanoseconds in one unit.
func unitFactor(u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return 1e9
	case arrow.Millisecond:
		return 1e6
	case arrow.Microsecond:
		return 1e3
	}
	return 1
}

func scaleNanos(v, factor int64) (int64, bool) {
	if factor == 1 {
		return v, true
	}
	if v > math.MaxInt64/factor || v < math.MinInt64/factor {
		return 0, false
	}
	return v * factor, true
}

// int64sOf reads the raw int64 storage of timestamp, duration and date64 arrays.
func int64sOf(src arrow.Array) func(int) int64 {
	switch a := src.(type) {
	case *array.Timestamp:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Duration:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Date64:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Date32:
		return func(i int) int64 { return int64(a.Value(i)) }
	}
	panic(fmt.Sprintf("ingest: %s has no int64 storage", src.DataType()))
}

func natOf(src arrow.Array) func(int) bool {
	get := int64sOf(src)
	return func(i int) bool { return get(i) == nat }
}

// timePlan converts int64-stored times whose unit is factor nanoseconds.
// NaT maps to null. Zero-copy when already nanoseconds and NaT-free;
// otherwise scaled in bulk unless a value needs a per-value decision.
func timePlan(factor int64, nats bool, what string, appendNs func(b array.Builder, ns int64)) *plan {
	p := &plan{bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
		get := int64sOf(src)
		return func(i int) error {
			if src.IsNull(i) {
				b.AppendNull()
				return nil
			}
			v := get(i)
			if nats && v == nat {
				b.AppendNull()
				return nil
			}
			ns, ok := scaleNanos(v, factor)
			if !ok {
				return fmt.Errorf("out of range: %ss are int64 nanoseconds", what)
			}
			appendNs(b, ns)
			return nil
		}
	}}
	if nats {
		p.missing = natOf
	}
	if factor != 1 {
		p.bulk = scaleTimes(factor)
	} else {
		p.same = func(src arrow.Array, dt arrow.DataType) arrow.Array {
			if nats {
				get := int64sOf(src)
				for i := 0; i < src.Len(); i++ {
					if src.IsValid(i) && get(i) == nat {
						return nil
					}
				}
			}
			if arrow.TypeEqual(src.DataType(), dt) {
				src.Retain()
				return src
			}
			return retype(src, dt)
		}
	}
	return p
}

// scaleTimes converts int64-stored times (timestamp, duration, date64)
// whose unit is factor (> 1) nanoseconds into nanoseconds of type dt. It
// gives up (nil) on a value out of range, which includes NaT: bind maps NaT
// to null and reports the others.
func scaleTimes(factor int64) func(src arrow.Array, dt arrow.DataType, mem memory.Allocator) arrow.Array {
	hi, lo := math.MaxInt64/factor, math.MinInt64/factor
	return func(src arrow.Array, dt arrow.DataType, mem memory.Allocator) arrow.Array {
		var vals []int64
		switch a := src.(type) {
		case *array.Timestamp:
			vals = arrow.Int64Traits.CastFromBytes(arrow.TimestampTraits.CastToBytes(a.TimestampValues()))
		case *array.Duration:
			vals = arrow.Int64Traits.CastFromBytes(arrow.DurationTraits.CastToBytes(a.DurationValues()))
		case *array.Date64:
			vals = arrow.Int64Traits.CastFromBytes(arrow.Date64Traits.CastToBytes(a.Date64Values()))
		default:
			return nil
		}
		n := len(vals)
		nulls := src.NullN()
		values := memory.NewResizableBuffer(mem)
		defer values.Release()
		values.Resize(arrow.Int64Traits.BytesRequired(n))
		out := arrow.Int64Traits.CastFromBytes(values.Bytes())
		for i, v := range vals {
			if v > hi || v < lo {
				if nulls > 0 && src.IsNull(i) {
					out[i] = 0
					continue
				}
				return nil
			}
			out[i] = v * factor
		}
		var valid *memory.Buffer
		if nulls > 0 {
			valid = memory.NewResizableBuffer(mem)
			defer valid.Release()
			valid.Resize(int(bitutil.BytesForBits(int64(n))))
			bitutil.CopyBitmap(src.NullBitmapBytes(), src.Data().Offset(), n, valid.Bytes(), 0)
		}
		data := array.NewData(dt, n, []*memory.Buffer{valid, values}, nil, nulls, 0)
		defer data.Release()
		return array.MakeFromData(data)
	}
}

// timestampPlan reads Arrow timestamps of every unit (with or without a
// time zone: the values are UTC instants either way; a zone-less
// timestamp is read as UTC, like text without an offset), date32 and
// date64 (midnight UTC).
func timestampPlan(dt arrow.DataType) (*plan, error) {
	put := func(b array.Builder, ns int64) { b.(*array.TimestampBuilder).Append(arrow.Timestamp(ns)) }
	switch d := dt.(type) {
	case *arrow.TimestampType:
		return timePlan(unitFactor(d.Unit), true, "timestamp", put), nil
	case *arrow.Date32Type:
		return timePlan(86400e9, false, "timestamp", put), nil
	case *arrow.Date64Type:
		return timePlan(1e6, false, "timestamp", put), nil
	}
	return nil, noConversion(dt, schema.Field{Type: schema.Timestamp})
}

func durationPlan(dt arrow.DataType) (*plan, error) {
	if d, ok := dt.(*arrow.DurationType); ok {
		return timePlan(unitFactor(d.Unit), true, "duration", func(b array.Builder, ns int64) {
			b.(*array.DurationBuilder).Append(arrow.Duration(ns))
		}), nil
	}
	return nil, noConversion(dt, schema.Field{Type: schema.Duration})
}

// ---- uuid

func uuidPlan(dt arrow.DataType) (*plan, error) {
	if !isBinary(dt) {
		return nil, noConversion(dt, schema.Field{Type: schema.UUID})
	}
	if f, ok := dt.(*arrow.FixedSizeBinaryType); ok && f.ByteWidth != 16 {
		return nil, fmt.Errorf("no conversion from %s to uuid (a UUID has 16 bytes)", dt)
	}
	return &plan{
		same: func(src arrow.Array, dt arrow.DataType) arrow.Array {
			if src.DataType().ID() == arrow.FIXED_SIZE_BINARY {
				return sameIfEqual(src, dt)
			}
			return nil
		},
		bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
			get, out := bytesOf(src), b.(*array.FixedSizeBinaryBuilder)
			return func(i int) error {
				if src.IsNull(i) {
					out.AppendNull()
					return nil
				}
				v := get(i)
				if len(v) != 16 {
					return fmt.Errorf("a UUID has 16 bytes, this value has %d", len(v))
				}
				out.Append(v)
				return nil
			}
		},
	}, nil
}

// ---- vec3, quaternion, latlon, latlonalt

// memberAliases are other names accepted for struct members.
var memberAliases = map[string][]string{
	"latitude":  {"lat"},
	"longitude": {"lon", "lng", "long"},
	"altitude":  {"alt", "height"},
}

// tuplePlan reads a well-known float message from a struct with one
// numeric child per member (matched by name, case-insensitively; lat, lon,
// lng and alt are accepted too), or from a list of exactly as many numbers.
func tuplePlan(dt arrow.DataType, t schema.Type, po planOpts) (*plan, error) {
	names := schema.StructFields(t)
	member := schema.Field{Type: schema.Float64}
	switch d := dt.(type) {
	case *arrow.StructType:
		idx := make([]int, len(names))
		plans := make([]*plan, len(names))
		used := make([]bool, d.NumFields())
		for k, n := range names {
			idx[k] = -1
			for j, c := range d.Fields() {
				if matchesMember(c.Name, n) {
					if idx[k] >= 0 {
						return nil, fmt.Errorf("struct members %q and %q both match %s member %q", d.Field(idx[k]).Name, c.Name, t, n)
					}
					idx[k] = j
					used[j] = true
				}
			}
			if idx[k] < 0 {
				return nil, fmt.Errorf("no conversion from %s to %s: no member %q (want %s)", dt, t, n, strings.Join(names, ", "))
			}
			p, err := planFor(d.Field(idx[k]).Type, member, po)
			if err != nil || p.text {
				return nil, fmt.Errorf("no conversion from %s to %s: member %q is %s, want a number", dt, t, n, d.Field(idx[k]).Type)
			}
			plans[k] = p
		}
		for j, u := range used {
			if !u {
				return nil, fmt.Errorf("no conversion from %s to %s: member %q has no place in a %s (it would be lost)", dt, t, d.Field(j).Name, t)
			}
		}
		return &plan{bind: func(src arrow.Array, b array.Builder, st *Stats) cellFunc {
			sa, out := src.(*array.Struct), b.(*array.StructBuilder)
			kids := make([]arrow.Array, len(names))
			fns := make([]cellFunc, len(names))
			for k := range names {
				kids[k] = sa.Field(idx[k])
				fns[k] = plans[k].bind(kids[k], out.FieldBuilder(k), st)
			}
			return func(i int) error {
				if sa.IsNull(i) {
					out.AppendNull()
					return nil
				}
				for k, kid := range kids {
					if kid.IsNull(i) {
						return fmt.Errorf("member %q is null", names[k])
					}
				}
				out.Append(true)
				for k, fn := range fns {
					if err := fn(i); err != nil {
						return fmt.Errorf("member %q: %w", names[k], err)
					}
				}
				return nil
			}
		}}, nil
	case arrow.ListLikeType:
		if _, isMap := dt.(*arrow.MapType); isMap || !isListLike(dt) {
			break
		}
		if fs, ok := dt.(*arrow.FixedSizeListType); ok && int(fs.Len()) != len(names) {
			return nil, fmt.Errorf("no conversion from %s to %s: want %d numbers (%s)", dt, t, len(names), strings.Join(names, ", "))
		}
		p, err := planFor(d.Elem(), member, po)
		if err != nil || p.text {
			return nil, fmt.Errorf("no conversion from %s to %s: want a list of numbers", dt, t)
		}
		return &plan{bind: func(src arrow.Array, b array.Builder, st *Stats) cellFunc {
			ll, out := src.(array.ListLike), b.(*array.StructBuilder)
			vals := ll.ListValues()
			fns := make([]cellFunc, len(names))
			for k := range names {
				fns[k] = p.bind(vals, out.FieldBuilder(k), st)
			}
			return func(i int) error {
				if ll.IsNull(i) {
					out.AppendNull()
					return nil
				}
				lo, hi := ll.ValueOffsets(i)
				if int(hi-lo) != len(names) {
					return fmt.Errorf("want %d numbers (%s), got %d", len(names), strings.Join(names, ", "), hi-lo)
				}
				for k := range names {
					if vals.IsNull(int(lo) + k) {
						return fmt.Errorf("member %q is null", names[k])
					}
				}
				out.Append(true)
				for k, fn := range fns {
					if err := fn(int(lo) + k); err != nil {
						return fmt.Errorf("member %q: %w", names[k], err)
					}
				}
				return nil
			}
		}}, nil
	}
	return nil, noConversion(dt, schema.Field{Type: t})
}

func matchesMember(col, member string) bool {
	c := strings.TrimSpace(col)
	if strings.EqualFold(c, member) {
		return true
	}
	for _, a := range memberAliases[member] {
		if strings.EqualFold(c, a) {
			return true
		}
	}
	return false
}

// ---- arrays

// arrayPlan converts lists (list, large_list, fixed_size_list, list_view)
// and array literals in text into list<canonical element>. Padding is
// stripped: trailing nulls and fill values (NaN, NaT) of each
// fixed_size_list row, and nulls anywhere in variable-length lists.
func arrayPlan(dt arrow.DataType, f schema.Field, po planOpts) (*plan, error) {
	elemField := schema.Field{Name: f.Name, Type: f.Type}
	if isText(dt) {
		return textArrayPlan(f.Type), nil
	}
	ld, ok := dt.(arrow.ListLikeType)
	if _, isMap := dt.(*arrow.MapType); isMap || !ok || !isListLike(dt) {
		return nil, fmt.Errorf("no conversion from %s to %s: the field is an array, the column holds single values", dt, f.TypeString())
	}
	ep, err := planFor(ld.Elem(), elemField, po)
	if err != nil {
		return nil, fmt.Errorf("no conversion from %s to %s: elements: %v", dt, f.TypeString(), err)
	}
	fixed := dt.ID() == arrow.FIXED_SIZE_LIST
	p := &plan{text: ep.text, bind: func(src arrow.Array, b array.Builder, st *Stats) cellFunc {
		ll, out := src.(array.ListLike), b.(*array.ListBuilder)
		vals := ll.ListValues()
		elem := ep.bind(vals, out.ValueBuilder(), st)
		absent := vals.IsNull
		if ep.missing != nil {
			miss := ep.missing(vals)
			absent = func(j int) bool { return vals.IsNull(j) || miss(j) }
		}
		pad := absent
		if fixed && ep.fill != nil {
			fill := ep.fill(vals)
			pad = func(j int) bool { return absent(j) || fill(j) }
		}
		return func(i int) error {
			if ll.IsNull(i) {
				out.AppendNull()
				return nil
			}
			lo64, hi64 := ll.ValueOffsets(i)
			lo, hi := int(lo64), int(hi64)
			if fixed {
				for hi > lo && pad(hi-1) {
					hi--
					st.Padding++
				}
			}
			out.Append(true)
			for j := lo; j < hi; j++ {
				if absent(j) {
					st.NullElements++
					continue
				}
				if err := elem(j); err != nil {
					return fmt.Errorf("element %d: %w", j-lo+1, err)
				}
			}
			return nil
		}
	}}
	if dt.ID() == arrow.LIST && ep.same != nil {
		p.same = func(src arrow.Array, dt arrow.DataType) arrow.Array {
			l := src.(*array.List)
			vals := l.ListValues()
			if vals.NullN() > 0 {
				return nil
			}
			ev := ep.same(vals, dt.(*arrow.ListType).Elem())
			if ev == nil {
				return nil
			}
			defer ev.Release()
			d := l.Data()
			nd := array.NewData(dt, d.Len(), d.Buffers(), []arrow.ArrayData{ev.Data()}, d.NullN(), d.Offset())
			defer nd.Release()
			return array.MakeFromData(nd)
		}
	}
	return p, nil
}

// textArrayPlan parses array literals (see splitArray). A blank cell or the
// literal null is a null array; [] is an empty one. Null elements are
// dropped. String arrays need JSON strings; other types take JSON strings
// or bare tokens.
func textArrayPlan(t schema.Type) *plan {
	return &plan{text: true, bind: func(src arrow.Array, b array.Builder, st *Stats) cellFunc {
		get, out := textOf(src), b.(*array.ListBuilder)
		elem := textAppender(t, out.ValueBuilder())
		return func(i int) error {
			if src.IsNull(i) {
				out.AppendNull()
				return nil
			}
			s := trim(get(i))
			if s == "" || s == "null" {
				out.AppendNull()
				return nil
			}
			elems, err := splitArray(s)
			if err != nil {
				return err
			}
			out.Append(true)
			for k, e := range elems {
				switch {
				case e.null:
					st.NullElements++
					continue
				case t == schema.String && !e.quoted:
					return fmt.Errorf("element %d: string array elements must be JSON strings, e.g. [\"a\", \"b\"]", k+1)
				case t != schema.String && trim(e.text) == "":
					return fmt.Errorf("element %d is empty", k+1)
				}
				if err := elem(e.text); err != nil {
					return fmt.Errorf("element %d: %w", k+1, err)
				}
			}
			return nil
		}
	}}
}

// sameGeometry passes a binary column through without copying when every
// value is already canonical WKB needing no fix (the usual GeoParquet case).
func sameGeometry(src arrow.Array, dt arrow.DataType) arrow.Array {
	a, ok := src.(*array.Binary)
	if !ok || !arrow.TypeEqual(a.DataType(), dt) {
		return nil
	}
	offs, data := a.ValueOffsets(), a.ValueBytes()
	base, nulls := offs[0], a.NullN() > 0
	for i := range a.Len() {
		if nulls && a.IsNull(i) {
			continue
		}
		if geo.NeedsFix(data[offs[i]-base : offs[i+1]-base]) {
			return nil
		}
	}
	a.Retain()
	return a
}
