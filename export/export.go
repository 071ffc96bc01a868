// Package export writes datapoints to files: Parquet, GeoParquet, Feather
// v2, Arrow IPC streams, CSV and NDJSON, streamed record batch by record
// batch with memory bounded by one batch.
//
// Writers take records of canonical columns (schema.ArrowType, as a
// convert.Decoder produces them) and write them in the form each format
// knows best: times as timestamp[ns, UTC], durations as duration[ns], UUIDs
// as the arrow.uuid extension type, arrays as lists, vec3 & co. as structs,
// geometries as WKB (GeoParquet metadata, GeoArrow in Arrow files) or WKT
// (CSV, NDJSON). Every format except NDJSON reads back through granary's
// readers into the same datapoints, with the same IDs.
//
//	w, err := export.NewWriter(f, export.GeoParquet, ds, dec.Schema())
//	n, err := export.Datapoints(w, dec, client.Datapoints.Query(ctx, ds.ID, ...), 0)
//	err = w.Close()
package export

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/schema"
)

// Format is an output file format.
type Format int

const (
	Parquet Format = iota + 1
	GeoParquet
	Feather // Feather v2: the Arrow IPC file format, compressed
	IPC     // Arrow IPC stream
	CSV
	NDJSON
)

var formatNames = map[Format]string{
	Parquet: "parquet", GeoParquet: "geoparquet", Feather: "feather", IPC: "arrow-stream", CSV: "csv", NDJSON: "ndjson",
}

func (f Format) String() string {
	if s, ok := formatNames[f]; ok {
		return s
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Formats lists the format names ParseFormat accepts.
func Formats() []string {
	return []string{"parquet", "geoparquet", "feather", "arrow-stream", "csv", "ndjson"}
}

// ParseFormat reads a format name (also: arrow, ipc, arrows, jsonl, json).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "parquet", "pq":
		return Parquet, nil
	case "geoparquet":
		return GeoParquet, nil
	case "feather", "arrow", "arrow-file":
		return Feather, nil
	case "arrow-stream", "ipc", "arrows", "stream":
		return IPC, nil
	case "csv":
		return CSV, nil
	case "ndjson", "jsonl", "json":
		return NDJSON, nil
	}
	return 0, fmt.Errorf("unknown format %q (want one of %s)", s, strings.Join(Formats(), ", "))
}

// FormatForPath picks the format from a file name's extension: .parquet
// and .pq (GeoParquet for a dataset with a geometry field), .geoparquet,
// .feather and .arrow, .arrows and .ipc, .csv, .ndjson, .jsonl and .json.
func FormatForPath(path string, ds *schema.Dataset) (Format, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet", ".pq":
		if hasGeometry(ds) {
			return GeoParquet, true
		}
		return Parquet, true
	case ".geoparquet":
		return GeoParquet, true
	case ".feather", ".arrow":
		return Feather, true
	case ".arrows", ".ipc":
		return IPC, true
	case ".csv":
		return CSV, true
	case ".ndjson", ".jsonl", ".json":
		return NDJSON, true
	}
	return 0, false
}

func hasGeometry(ds *schema.Dataset) bool {
	if ds == nil {
		return false
	}
	for _, f := range ds.Fields {
		if f.Type == schema.Geometry {
			return true
		}
	}
	return false
}

type options struct {
	compression  string
	covering     bool
	rowGroupRows int64
	mem          memory.Allocator
}

// Option adjusts a Writer.
type Option func(*options)

// WithCompression sets the codec: Parquet zstd (default), snappy, gzip,
// lz4, brotli or none; Feather lz4 (default), zstd or none; Arrow IPC
// streams none (default), lz4 or zstd. CSV and NDJSON ignore it.
func WithCompression(codec string) Option {
	return func(o *options) { o.compression = strings.ToLower(codec) }
}

// WithCoveringBBox adds to GeoParquet a bbox column (struct of xmin, ymin,
// xmax, ymax) per row, declared as the geometry's covering (GeoParquet
// 1.1), so readers can skip row groups by bounding box.
func WithCoveringBBox() Option { return func(o *options) { o.covering = true } }

// WithRowGroupRows sets the rows per Parquet row group (default 131072).
func WithRowGroupRows(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.rowGroupRows = n
		}
	}
}

// WithAllocator sets the allocator of the arrays a writer builds.
func WithAllocator(mem memory.Allocator) Option {
	return func(o *options) {
		if mem != nil {
			o.mem = mem
		}
	}
}

// Writer writes canonical records in one format.
type Writer struct {
	format Format
	ds     *schema.Dataset
	in     *arrow.Schema // canonical
	fields []schema.Field
	o      options
	rows   int64
	impl   formatWriter
	closed bool
}

type formatWriter interface {
	write(rec arrow.RecordBatch) error
	close() error
}

// NewWriter starts writing records of the canonical schema sc (columns
// named as fields of ds, canonical types, any subset in any order) to w.
// Close must be called to finish the file; it does not close w.
func NewWriter(w io.Writer, f Format, ds *schema.Dataset, sc *arrow.Schema, opts ...Option) (*Writer, error) {
	o := options{rowGroupRows: 128 << 10, mem: memory.DefaultAllocator}
	for _, opt := range opts {
		opt(&o)
	}
	wr := &Writer{format: f, ds: ds, in: sc, o: o}
	for _, af := range sc.Fields() {
		fd, ok := ds.Field(af.Name)
		if !ok {
			return nil, fmt.Errorf("export: dataset %s has no field %q", ds.Slug(), af.Name)
		}
		if want := schema.ArrowType(fd); !arrow.TypeEqual(af.Type, want) {
			return nil, fmt.Errorf("export: column %q has type %s, want the canonical %s", af.Name, af.Type, want)
		}
		wr.fields = append(wr.fields, fd)
	}
	var err error
	switch f {
	case Parquet, GeoParquet:
		wr.impl, err = newParquetWriter(w, wr, f == GeoParquet)
	case Feather, IPC:
		wr.impl, err = newIPCWriter(w, wr, f == Feather)
	case CSV:
		wr.impl, err = newCSVWriter(w, wr)
	case NDJSON:
		wr.impl = newNDJSONWriter(w, wr)
	default:
		err = fmt.Errorf("export: unknown format %v", f)
	}
	if err != nil {
		return nil, err
	}
	return wr, nil
}

// Format is the writer's format.
func (w *Writer) Format() Format { return w.format }

// Rows counts the rows written so far.
func (w *Writer) Rows() int64 { return w.rows }

// Write appends a record of the writer's canonical schema.
func (w *Writer) Write(rec arrow.RecordBatch) error {
	if w.closed {
		return errors.New("export: write after close")
	}
	if !rec.Schema().Equal(w.in) {
		return fmt.Errorf("export: record schema %s differs from the writer's %s", rec.Schema(), w.in)
	}
	if rec.NumRows() == 0 {
		return nil
	}
	if err := w.impl.write(rec); err != nil {
		return err
	}
	w.rows += rec.NumRows()
	return nil
}

// Close finishes the file (footers, metadata). It does not close the
// underlying io.Writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.impl.close()
}

// DefaultBatchRows is how many datapoints Datapoints decodes per record.
const DefaultBatchRows = 8192

// Datapoints decodes encoded datapoints (e.g. the pages of a query) with
// dec and writes them in records of batchRows rows (DefaultBatchRows if
// batchRows <= 0). Decoding runs in a goroutine of its own, one record
// ahead of the writing, so that reading and compressing overlap. It returns
// the number of rows written; the caller closes w.
func Datapoints(w *Writer, dec *convert.Decoder, seq iter.Seq2[[]byte, error], batchRows int) (int64, error) {
	if batchRows <= 0 {
		batchRows = DefaultBatchRows
	}
	recs := make(chan arrow.RecordBatch, 1)
	stop := make(chan struct{})
	var readErr error
	go func() {
		defer close(recs)
		send := func() bool {
			select {
			case recs <- dec.NewRecordBatch():
				return true
			case <-stop:
				return false
			}
		}
		for b, err := range seq {
			if err == nil {
				err = dec.Append(b)
			}
			if err != nil {
				readErr = err
				return
			}
			if dec.Len() >= batchRows && !send() {
				return
			}
		}
		if dec.Len() > 0 {
			send()
		}
	}()
	var n int64
	var writeErr error
	for rec := range recs {
		if writeErr == nil {
			if writeErr = w.Write(rec); writeErr == nil {
				n += rec.NumRows()
			} else {
				close(stop)
			}
		}
		rec.Release()
	}
	// recs is closed: the decoding goroutine is done.
	if writeErr != nil {
		return n, writeErr
	}
	return n, readErr
}

// arrowSchemaFor is the output schema of the Arrow-based formats: uuid
// columns (and list elements) as arrow.uuid; geoarrow marks geometry
// columns as geoarrow.wkb.
func arrowSchemaFor(w *Writer, geoarrow bool, md *arrow.Metadata) *arrow.Schema {
	fs := make([]arrow.Field, len(w.fields))
	for i, f := range w.fields {
		af := w.in.Field(i)
		af.Type = outType(f)
		if geoarrow && f.Type == schema.Geometry {
			af.Metadata = arrow.NewMetadata([]string{"ARROW:extension:name", "ARROW:extension:metadata"},
				[]string{"geoarrow.wkb", `{"crs":"OGC:CRS84"}`})
		}
		fs[i] = af
	}
	return arrow.NewSchema(fs, md)
}

func outType(f schema.Field) arrow.DataType {
	if f.Type != schema.UUID {
		return schema.ArrowType(f)
	}
	if f.Array {
		return arrow.ListOf(extensions.NewUUIDType())
	}
	return extensions.NewUUIDType()
}

// toOutput wraps a canonical record's uuid columns as arrow.uuid (no copy).
// The caller releases the result.
func toOutput(w *Writer, sc *arrow.Schema, rec arrow.RecordBatch, extra ...arrow.Array) arrow.RecordBatch {
	cols := make([]arrow.Array, 0, len(w.fields)+len(extra))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i, f := range w.fields {
		col := rec.Column(i)
		if f.Type != schema.UUID {
			col.Retain()
			cols = append(cols, col)
			continue
		}
		if !f.Array {
			cols = append(cols, array.NewExtensionArrayWithStorage(extensions.NewUUIDType(), col))
			continue
		}
		l := col.(*array.List)
		child := array.NewExtensionArrayWithStorage(extensions.NewUUIDType(), l.ListValues())
		d := l.Data()
		nd := array.NewData(arrow.ListOf(extensions.NewUUIDType()), d.Len(), d.Buffers(), []arrow.ArrayData{child.Data()}, d.NullN(), d.Offset())
		child.Release()
		cols = append(cols, array.MakeFromData(nd))
		nd.Release()
	}
	for _, e := range extra {
		e.Retain()
		cols = append(cols, e)
	}
	return array.NewRecordBatch(sc, cols, rec.NumRows())
}

// geometryColumns are the indices of the scalar geometry fields.
func geometryColumns(w *Writer) []int {
	var out []int
	for i, f := range w.fields {
		if f.Type == schema.Geometry && !f.Array {
			out = append(out, i)
		}
	}
	// The dataset's own geometry field comes first: it is the primary one.
	slices.SortStableFunc(out, func(a, b int) int {
		pa, pb := w.fields[a].Name == schema.FieldGeometry, w.fields[b].Name == schema.FieldGeometry
		switch {
		case pa && !pb:
			return -1
		case pb && !pa:
			return 1
		}
		return 0
	})
	return out
}
