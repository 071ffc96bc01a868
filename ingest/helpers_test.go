package ingest

import (
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/granaryhq/granary/schema"
)

// checkedMem returns an allocator that fails the test if anything it
// handed out is not released by the end of the test.
func checkedMem(t *testing.T) *memory.CheckedAllocator {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// dataset builds a temporal (or, with a geometry field requested by kind,
// spatio-temporal) dataset with the given custom fields.
func dataset(t *testing.T, kind schema.Kind, fields ...schema.Field) *schema.Dataset {
	t.Helper()
	ds, err := schema.New("my_org", "measurements", "Measurements", kind, fields)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func field(name string, typ schema.Type) schema.Field { return schema.Field{Name: name, Type: typ} }
func arrayField(name string, typ schema.Type) schema.Field {
	return schema.Field{Name: name, Type: typ, Array: true}
}

// writeFile writes content to a file named name in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readAll opens path and collects every batch's rows as strings (null as
// "<null>"), checking that nothing leaks.
func readAll(t *testing.T, path string, opts ...Option) (*arrow.Schema, [][]string, []Batch, error) {
	t.Helper()
	mem := checkedMem(t)
	src, err := Open(path, append([]Option{WithAllocator(mem)}, opts...)...)
	if err != nil {
		return nil, nil, nil, err
	}
	defer src.Close()
	var rows [][]string
	var batches []Batch
	for b, err := range src.Batches() {
		if err != nil {
			return src.Schema(), rows, batches, err
		}
		batches = append(batches, Batch{FirstRow: b.FirstRow, Lines: b.Lines})
		for i := 0; i < int(b.Record.NumRows()); i++ {
			var row []string
			for c := 0; c < int(b.Record.NumCols()); c++ {
				col := b.Record.Column(c)
				if col.IsNull(i) {
					row = append(row, "<null>")
				} else {
					row = append(row, col.(*array.String).Value(i))
				}
			}
			rows = append(rows, row)
		}
	}
	return src.Schema(), rows, batches, nil
}

// mapFile opens path, maps every batch onto ds and hands each record to
// fn (which must not keep it). It returns the mapper's stats.
func mapFile(t *testing.T, path string, ds *schema.Dataset, m Mapping, fn func(arrow.RecordBatch), opts ...Option) (Stats, error) {
	t.Helper()
	mem := checkedMem(t)
	opts = append([]Option{WithAllocator(mem)}, opts...)
	src, err := Open(path, opts...)
	if err != nil {
		return Stats{}, err
	}
	defer src.Close()
	mp, err := NewMapper(src.Schema(), ds, m, filepath.Base(path), opts...)
	if err != nil {
		return Stats{}, err
	}
	for b, err := range src.Batches() {
		if err != nil {
			return mp.Stats(), err
		}
		rec, err := mp.Map(b)
		if err != nil {
			return mp.Stats(), err
		}
		if !rec.Schema().Equal(mp.Schema()) {
			t.Errorf("record schema %s, mapper schema %s", rec.Schema(), mp.Schema())
		}
		if fn != nil {
			fn(rec)
		}
		rec.Release()
	}
	return mp.Stats(), nil
}

// asError asserts err is an *Error and returns it.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *ingest.Error, got %T: %v", err, err)
	}
	return e
}

// wantErr checks err is non-nil and mentions every substring.
func wantErr(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error mentioning %q, got none", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

// convertArray runs the planned conversion of src onto field f, the way
// Mapper.Map does for one column.
func convertArray(t *testing.T, mem memory.Allocator, src arrow.Array, f schema.Field) (arrow.Array, Stats, error) {
	t.Helper()
	p, err := planFor(src.DataType(), f, planOpts{})
	if err != nil {
		return nil, Stats{}, err
	}
	dt := schema.ArrowType(f)
	if p.same != nil {
		if a := p.same(src, dt); a != nil {
			if !arrow.TypeEqual(a.DataType(), dt) {
				t.Fatalf("zero-copy result has type %s, want %s", a.DataType(), dt)
			}
			return a, Stats{}, nil
		}
	}
	b := array.NewBuilder(mem, dt)
	defer b.Release()
	var st Stats
	fn := p.bind(src, b, &st)
	for i := 0; i < src.Len(); i++ {
		if err := fn(i); err != nil {
			return nil, st, err
		}
	}
	return b.NewArray(), st, nil
}

// strings builds a utf8 array; "\x00null" stands for a null.
func stringArray(mem memory.Allocator, vals ...string) arrow.Array {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	for _, v := range vals {
		if v == null {
			b.AppendNull()
		} else {
			b.Append(v)
		}
	}
	return b.NewArray()
}

const null = "\x00null"

// render prints row i of a canonical array the way the tables write it.
func render(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "<null>"
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Binary:
		return hex.EncodeToString(a.Value(i))
	case *array.Timestamp:
		return time.Unix(0, int64(a.Value(i))).UTC().Format(time.RFC3339Nano)
	case *array.Duration:
		return time.Duration(a.Value(i)).String()
	case *array.FixedSizeBinary:
		return uuid.UUID(a.Value(i)).String()
	case *array.Struct:
		parts := make([]string, a.NumField())
		for k := range parts {
			parts[k] = render(a.Field(k), i)
		}
		return "(" + strings.Join(parts, " ") + ")"
	case *array.List:
		lo, hi := a.ValueOffsets(i)
		parts := []string{}
		for j := lo; j < hi; j++ {
			parts = append(parts, render(a.ListValues(), int(j)))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return a.ValueStr(i)
}

func renderAll(a arrow.Array) []string {
	out := make([]string, a.Len())
	for i := range out {
		out[i] = render(a, i)
	}
	return out
}

// mapRecord maps rec (rows from 1) with a new Mapper for ds and fails the
// test on any error; the caller releases the result.
func mapRecord(t *testing.T, rec arrow.RecordBatch, ds *schema.Dataset, m Mapping, opts ...Option) (arrow.RecordBatch, Stats) {
	t.Helper()
	mp, err := NewMapper(rec.Schema(), ds, m, "records", opts...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := mp.Map(Batch{Record: rec, FirstRow: 1})
	if err != nil {
		t.Fatal(err)
	}
	return out, mp.Stats()
}
