package export

import (
	"bufio"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/google/uuid"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

// Text forms, chosen so that granary's CSV reader parses them back into
// the same values: RFC 3339 times with nanoseconds in UTC, Go durations,
// canonical UUIDs, base64 bytes (0x for none), WKT geometries, shortest round-tripping
// floats (NaN, +Inf, -Inf), [x, y, z] for vec3 & co., and array literals
// with JSON strings and bare numbers. CSV has no null distinct from the
// empty string: both are an empty cell, which reads back as null.

// textOf returns the text of row i of a scalar column (not null).
func textOf(t schema.Type, arr arrow.Array) func(i int) string {
	switch t {
	case schema.String:
		a := arr.(*array.String)
		return a.Value
	case schema.Int64:
		a := arr.(*array.Int64)
		return func(i int) string { return strconv.FormatInt(a.Value(i), 10) }
	case schema.Uint64:
		a := arr.(*array.Uint64)
		return func(i int) string { return strconv.FormatUint(a.Value(i), 10) }
	case schema.Float64:
		a := arr.(*array.Float64)
		return func(i int) string { return formatFloat(a.Value(i)) }
	case schema.Bool:
		a := arr.(*array.Boolean)
		return func(i int) string { return strconv.FormatBool(a.Value(i)) }
	case schema.Bytes:
		a := arr.(*array.Binary)
		return func(i int) string {
			v := a.Value(i)
			if len(v) == 0 {
				return "0x" // empty hex: an empty cell would read back as null
			}
			return base64.StdEncoding.EncodeToString(v)
		}
	case schema.Geometry:
		a := arr.(*array.Binary)
		return func(i int) string { return wktOf(a.Value(i)) }
	case schema.Duration:
		a := arr.(*array.Duration)
		return func(i int) string { return time.Duration(a.Value(i)).String() }
	case schema.Timestamp:
		a := arr.(*array.Timestamp)
		return func(i int) string { return time.Unix(0, int64(a.Value(i))).UTC().Format(time.RFC3339Nano) }
	case schema.UUID:
		a := arr.(*array.FixedSizeBinary)
		return func(i int) string { return uuid.UUID(a.Value(i)).String() }
	case schema.Vec3, schema.Quaternion, schema.LatLon, schema.LatLonAlt:
		a := arr.(*array.Struct)
		kids := make([]*array.Float64, a.NumField())
		for k := range kids {
			kids[k] = a.Field(k).(*array.Float64)
		}
		return func(i int) string {
			b := []byte{'['}
			for k, kid := range kids {
				if k > 0 {
					b = append(b, ", "...)
				}
				v := 0.0
				if kid.IsValid(i) {
					v = kid.Value(i)
				}
				b = append(b, formatFloat(v)...)
			}
			return string(append(b, ']'))
		}
	}
	panic(fmt.Sprintf("export: no text form for %v", t))
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// wktOf renders WKB as WKT; bytes that are not WKB stay hex WKB.
func wktOf(b []byte) string {
	g, err := geo.ParseWKB(b)
	if err != nil {
		return hex.EncodeToString(b)
	}
	return geo.WKT(g)
}

// bareInLiteral reports whether array elements of t are written unquoted.
func bareInLiteral(t schema.Type) bool {
	switch t {
	case schema.Int64, schema.Uint64, schema.Float64, schema.Bool, schema.Vec3, schema.Quaternion, schema.LatLon, schema.LatLonAlt:
		return true
	}
	return false
}

// cellFunc returns the CSV cell of row i ("" for null).
func cellFunc(f schema.Field, arr arrow.Array) func(i int) string {
	if !f.Array {
		text := textOf(f.Type, arr)
		return func(i int) string {
			if arr.IsNull(i) {
				return ""
			}
			return text(i)
		}
	}
	l := arr.(*array.List)
	vals := l.ListValues()
	elem := textOf(f.Type, vals)
	bare := bareInLiteral(f.Type)
	return func(i int) string {
		if l.IsNull(i) {
			return ""
		}
		lo, hi := l.ValueOffsets(i)
		b := []byte{'['}
		for j := lo; j < hi; j++ {
			if j > lo {
				b = append(b, ", "...)
			}
			switch {
			case vals.IsNull(int(j)):
				b = append(b, "null"...)
			case bare:
				b = append(b, elem(int(j))...)
			default:
				b = appendJSONString(b, elem(int(j)))
			}
		}
		return string(append(b, ']'))
	}
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // cannot fail for a string
	return append(b, q...)
}

// csvWriter writes a header of field names, then one line per row.
type csvWriter struct {
	w     *Writer
	bw    *bufio.Writer
	cw    *csv.Writer
	cells []string
}

func newCSVWriter(out io.Writer, w *Writer) (*csvWriter, error) {
	bw := bufio.NewWriterSize(out, 256<<10)
	c := &csvWriter{w: w, bw: bw, cw: csv.NewWriter(bw), cells: make([]string, len(w.fields))}
	for i, f := range w.fields {
		c.cells[i] = f.Name
	}
	if err := c.cw.Write(c.cells); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *csvWriter) write(rec arrow.RecordBatch) error {
	fns := make([]func(int) string, len(c.w.fields))
	for k, f := range c.w.fields {
		fns[k] = cellFunc(f, rec.Column(k))
	}
	for i := range int(rec.NumRows()) {
		for k, fn := range fns {
			c.cells[k] = fn(i)
		}
		if err := c.cw.Write(c.cells); err != nil {
			return err
		}
	}
	return c.cw.Error()
}

func (c *csvWriter) close() error {
	c.cw.Flush()
	if err := c.cw.Error(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// ndjsonWriter writes one JSON object per row, keyed by field name in
// field order, in the forms `granary query --json` prints; null fields are
// left out.
type ndjsonWriter struct {
	w  *Writer
	bw *bufio.Writer
	b  []byte
}

func newNDJSONWriter(out io.Writer, w *Writer) *ndjsonWriter {
	return &ndjsonWriter{w: w, bw: bufio.NewWriterSize(out, 256<<10)}
}

// jsonOf appends the JSON of row i of a scalar column (not null).
func jsonOf(t schema.Type, arr arrow.Array) func(b []byte, i int) []byte {
	switch t {
	case schema.Int64, schema.Uint64, schema.Bool:
		text := textOf(t, arr)
		return func(b []byte, i int) []byte { return append(b, text(i)...) }
	case schema.Float64:
		a := arr.(*array.Float64)
		return func(b []byte, i int) []byte { return appendJSONFloat(b, a.Value(i)) }
	case schema.Vec3, schema.Quaternion, schema.LatLon, schema.LatLonAlt:
		a := arr.(*array.Struct)
		names := schema.StructFields(t)
		return func(b []byte, i int) []byte {
			b = append(b, '{')
			for k, name := range names {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, name)
				b = append(b, ':')
				kid := a.Field(k).(*array.Float64)
				v := 0.0
				if kid.IsValid(i) {
					v = kid.Value(i)
				}
				b = appendJSONFloat(b, v)
			}
			return append(b, '}')
		}
	}
	text := textOf(t, arr)
	return func(b []byte, i int) []byte { return appendJSONString(b, text(i)) }
}

// appendJSONFloat writes NaN and ±Inf as strings: JSON has no such numbers.
func appendJSONFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return appendJSONString(b, fmt.Sprint(v))
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func (n *ndjsonWriter) write(rec arrow.RecordBatch) error {
	type col struct {
		key  []byte
		arr  arrow.Array
		list *array.List
		val  func([]byte, int) []byte
	}
	cols := make([]col, len(n.w.fields))
	for k, f := range n.w.fields {
		c := col{key: append(appendJSONString(nil, f.Name), ':'), arr: rec.Column(k)}
		if f.Array {
			c.list = c.arr.(*array.List)
			c.val = jsonOf(f.Type, c.list.ListValues())
		} else {
			c.val = jsonOf(f.Type, c.arr)
		}
		cols[k] = c
	}
	for i := range int(rec.NumRows()) {
		b := append(n.b[:0], '{')
		first := true
		for _, c := range cols {
			if c.arr.IsNull(i) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, c.key...)
			if c.list == nil {
				b = c.val(b, i)
				continue
			}
			lo, hi := c.list.ValueOffsets(i)
			b = append(b, '[')
			vals := c.list.ListValues()
			for j := lo; j < hi; j++ {
				if j > lo {
					b = append(b, ',')
				}
				if vals.IsNull(int(j)) {
					b = append(b, "null"...)
				} else {
					b = c.val(b, int(j))
				}
			}
			b = append(b, ']')
		}
		b = append(b, '}', '\n')
		n.b = b
		if _, err := n.bw.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func (n *ndjsonWriter) close() error { return n.bw.Flush() }
