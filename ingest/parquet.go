package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	pqschema "github.com/apache/arrow-go/v18/parquet/schema"
)

// parquetSource streams a Parquet file as record batches through arrow-go's
// pqarrow RecordReader: one batch of WithBatchSize rows at a time, pages
// read from the file as needed (never the whole file), every codec,
// encoding and page version arrow-go knows. Flat string, binary and INT64
// columns bypass pqarrow (see byteColumn and int64Column). Guardrails: decoder panics
// become errors naming the file; negative row counts in the footer and a
// decoded row count that differs from the row groups' are errors (arrow-go
// would return fewer rows silently); pages above WithMaxPageBytes and
// memory above WithMemoryLimit fail cleanly; batches are validated.
type parquetSource struct {
	name   string
	closer io.Closer
	rdr    *file.Reader
	fr     *pqarrow.FileReader
	schema *arrow.Schema
	geo    *GeoMetadata
	mem    memory.Allocator
	o      options
	rows   int64 // the row groups' total
	// retype holds, per top-level column, the type to re-label the decoded
	// column with (nil: none); see readDurationsAsInt64.
	retype []arrow.DataType
	used   bool
	closed bool
	// unknownTypes counts columns whose logical type (from a newer Parquet
	// format) was ignored: they read as their physical type.
	unknownTypes int

	// Flat byte-array and INT64 columns are read by byteColumn and
	// int64Column, the rest by pqarrow (see recordReader); decoded is the
	// schema of the batches put together (checked re-labels them with
	// schema).
	own     []ownColumn
	decoded *arrow.Schema
	done    int64 // rows decoded so far
}

// newParquetReader opens the footer. A logical type from a newer format
// version makes arrow-go panic; the format says to ignore it, so the
// footer is then read again without such annotations.
func newParquetReader(ra parquet.ReaderAtSeeker, props *parquet.ReaderProperties) (*file.Reader, int, error) {
	var panicked any
	rdr, err := func() (*file.Reader, error) {
		defer func() { panicked = recover() }()
		return file.NewParquetReader(ra, file.WithReadProps(props))
	}()
	if panicked == nil {
		return rdr, 0, err
	}
	if !strings.Contains(fmt.Sprint(panicked), "invalid logical type") {
		panic(panicked)
	}
	size, err := ra.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, 0, err
	}
	footer, err := readParquetFooter(ra, size)
	if err != nil {
		return nil, 0, fmt.Errorf("reading the footer: %w", err)
	}
	fixed, dropped, err := dropUnknownLogicalTypes(footer)
	if err != nil || dropped == 0 {
		panic(panicked)
	}
	md, err := metadata.NewFileMetaData(fixed, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("reading the footer: %w", err)
	}
	md.SetSourceFileSize(size)
	rdr, err = file.NewParquetReader(ra, file.WithReadProps(props), file.WithMetadata(md))
	return rdr, dropped, err
}

// Parquet's deprecated LZ4 codec (Hadoop or raw block framing, never
// standardised); arrow-go reads LZ4_RAW only.
var errLegacyLZ4 = errors.New("unsupported Parquet codec LZ4 (the deprecated, ambiguous Hadoop/raw framing): rewrite the file with LZ4_RAW, ZSTD or SNAPPY")

// ParquetReadBuffer is the read buffer of each Parquet column chunk
// stream. Page headers are read through it; page bodies larger than it are
// read straight into the (pooled) page buffer. Small is faster: a 1 MiB
// buffer is a fresh, zeroed allocation per column chunk and an extra copy
// of every page (1M-row benchmark file: 0.50 s → 0.43 s to decode).
const ParquetReadBuffer = 64 << 10

// ReadPoolRetain bounds the freed buffers a Parquet source keeps for reuse
// in the pool it makes when given no allocator. A program reading many
// files makes one pool of this size for all of them (WithAllocator), so
// that each file does not start with an empty one.
const ReadPoolRetain = 64 << 20

func openParquet(name string, ra parquet.ReaderAtSeeker, closer io.Closer, o options) (src Source, err error) {
	defer recovered(name, "reading the Parquet footer", &err)
	mem := o.mem
	if mem == memory.DefaultAllocator {
		// Reading reuses the same few page and column buffers batch after
		// batch: a pool saves the garbage collector most of its work.
		mem = NewPoolAllocator(ReadPoolRetain)
	}
	if o.memLimit > 0 {
		mem = newLimitAllocator(mem, o.memLimit)
	}
	props := parquet.NewReaderProperties(mem)
	props.BufferedStreamEnabled = true // stream pages; never buffer a whole column chunk
	props.BufferSize = ParquetReadBuffer
	props.MaxCompressedPageSize = o.maxPageBytes
	props.MaxUncompressedPageSize = o.maxPageBytes
	rdr, dropped, err := newParquetReader(ra, props)
	if err != nil {
		return nil, &Error{File: name, Err: parquetOpenErr(err)}
	}
	s := &parquetSource{name: name, closer: closer, rdr: rdr, mem: mem, o: o, unknownTypes: dropped}
	fail := func(e error) (Source, error) {
		rdr.Close()
		return nil, &Error{File: name, Err: e}
	}
	md := rdr.MetaData()
	if md.NumRows < 0 {
		return fail(fmt.Errorf("invalid Parquet footer: num_rows is %d", md.NumRows))
	}
	for i := 0; i < md.NumRowGroups(); i++ {
		rg := md.RowGroup(i)
		if rg.NumRows() < 0 {
			return fail(fmt.Errorf("invalid Parquet footer: row group %d has num_rows %d", i, rg.NumRows()))
		}
		s.rows += rg.NumRows()
		for j := 0; j < rg.NumColumns(); j++ {
			cc, err := rg.ColumnChunk(j)
			if err != nil {
				return fail(parquetOpenErr(err))
			}
			if cc.Compression() == compress.Codecs.Lz4 {
				return fail(fmt.Errorf("column %q: %w", cc.PathInSchema().String(), errLegacyLZ4))
			}
		}
	}
	if md.Schema.NumColumns() == 0 {
		return fail(errors.New("the Parquet file has no columns"))
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: int64(o.batchSize)}, mem)
	if err != nil {
		return fail(parquetOpenErr(err))
	}
	sc, err := fr.Schema()
	if err != nil {
		return fail(parquetOpenErr(err))
	}
	s.fr = fr
	s.retype = readDurationsAsInt64(fr.Manifest)
	lookup := func(k string) (string, bool) {
		v := md.KeyValueMetadata().FindValue(k)
		if v == nil {
			return "", false
		}
		return *v, true
	}
	s.geo, s.schema = schemaGeo(sc, lookup, parquetGeoColumns(md.Schema, lookup))
	return s, nil
}

// parquetOpenErr explains the errors arrow-go gives for features granary
// does not read.
func parquetOpenErr(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "decrypt") || strings.Contains(msg, "encrypted"):
		return fmt.Errorf("encrypted Parquet file (modular encryption): granary reads no encrypted files, decrypt it first (%v)", err)
	case strings.Contains(msg, "compression for LZ4 unimplemented"):
		return errLegacyLZ4
	}
	return err
}

// parquetGeoColumns describes the top-level columns annotated with the
// Parquet GEOMETRY or GEOGRAPHY logical type (format 2.11).
func parquetGeoColumns(sc *pqschema.Schema, lookup func(string) (string, bool)) []GeoColumn {
	var out []GeoColumn
	root := sc.Root()
	for i := 0; i < root.NumFields(); i++ {
		n, ok := root.Field(i).(*pqschema.PrimitiveNode)
		if !ok {
			continue
		}
		var c GeoColumn
		var crs string
		switch lt := n.LogicalType().(type) {
		case pqschema.GeometryLogicalType:
			c = GeoColumn{Name: n.Name(), Encoding: encWKB, From: "Parquet GEOMETRY type", Edges: "planar"}
			crs = lt.CRS()
		case pqschema.GeographyLogicalType:
			c = GeoColumn{Name: n.Name(), Encoding: encWKB, From: "Parquet GEOGRAPHY type", Edges: lt.EdgeInterpolationAlgorithm().String()}
			crs = lt.CRS()
		default:
			continue
		}
		// An unset CRS means OGC:CRS84; strings may be an identifier,
		// "srid:N", "projjson:KEY" or PROJJSON itself.
		if crs == "" {
			c.setCRS(nil, false, true, lookup)
		} else {
			raw, _ := json.Marshal(crs)
			c.setCRS(raw, true, true, lookup)
		}
		out = append(out, c)
	}
	return out
}

func (s *parquetSource) Name() string          { return s.name }
func (s *parquetSource) Schema() *arrow.Schema { return s.schema }

// GeoInfo describes the file's geometry columns, or is nil.
func (s *parquetSource) GeoInfo() *GeoMetadata { return s.geo }

// NumRows is the number of rows the footer's row groups declare.
func (s *parquetSource) NumRows() int64 { return s.rows }

// IgnoredLogicalTypes counts columns annotated with a logical type from a
// newer Parquet format, read as their physical type.
func (s *parquetSource) IgnoredLogicalTypes() int { return s.unknownTypes }

func (s *parquetSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	for _, c := range s.own {
		c.close()
	}
	err := s.rdr.Close()
	if s.closer != nil {
		if cerr := s.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (s *parquetSource) Batches() iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		if s.used {
			yield(Batch{}, &Error{File: s.name, Err: errors.New("the file was already read")})
			return
		}
		s.used = true
		if s.closed {
			yield(Batch{}, &Error{File: s.name, Err: errors.New("the file is closed")})
			return
		}
		rr, err := s.recordReader()
		if err != nil {
			yield(Batch{}, err)
			return
		}
		if rr != nil {
			defer rr.Release()
		}
		var first int64 = 1
		for {
			rec, err := s.next(rr)
			if err != nil {
				yield(Batch{}, err)
				return
			}
			if rec == nil {
				break
			}
			n := rec.NumRows()
			if first-1+n > s.rows {
				rec.Release()
				yield(Batch{}, &Error{File: s.name, Err: fmt.Errorf("the file holds more rows than its footer declares (%d): corrupt file", s.rows)})
				return
			}
			ok := yield(Batch{Record: rec, FirstRow: first}, nil)
			rec.Release()
			first += n
			if !ok {
				return
			}
		}
		if s.o.requireRows && first-1 != s.rows {
			yield(Batch{}, &Error{File: s.name, Err: fmt.Errorf("decoded %d rows, the footer declares %d: corrupt file", first-1, s.rows)})
		}
	}
}

// recordReader returns pqarrow's reader of the columns granary does not
// read itself (see ownColumn); nil when it reads them all.
func (s *parquetSource) recordReader() (rr pqarrow.RecordReader, err error) {
	defer recovered(s.name, "reading Parquet", &err)
	var leaves []int
	if !s.o.pqarrowOnly {
		leaves = s.splitColumns()
	}
	if s.own != nil && len(leaves) == 0 {
		return nil, nil
	}
	rr, err = s.fr.GetRecordReader(context.Background(), leaves, nil)
	if err != nil {
		return nil, &Error{File: s.name, Err: parquetOpenErr(err)}
	}
	return rr, nil
}

// splitColumns sets s.own to the columns granary reads itself and returns
// the leaf columns left for pqarrow (nil: all of them, s.own unset).
func (s *parquetSource) splitColumns() []int {
	m := s.fr.Manifest
	var own []ownColumn
	for _, c := range byteColumns(s.rdr, m, s.mem, s.o.batchSize) {
		own = append(own, c)
	}
	for _, c := range int64Columns(s.rdr, m, s.mem) {
		own = append(own, c)
	}
	if len(own) == 0 {
		return nil
	}
	mine := make([]bool, len(m.Fields))
	for _, c := range own {
		mine[c.fieldIndex()] = true
	}
	var leaves []int
	fields := make([]arrow.Field, len(m.Fields))
	for i := range m.Fields {
		fields[i] = *m.Fields[i].Field
		if mine[i] {
			continue
		}
		n := len(leaves)
		leaves = appendLeaves(leaves, &m.Fields[i])
		if len(leaves) == n {
			return nil // a field with no leaf: pqarrow's record would not line up
		}
	}
	s.own, s.decoded = own, arrow.NewSchema(fields, nil)
	return leaves
}

func appendLeaves(dst []int, sf *pqarrow.SchemaField) []int {
	if sf.ColIndex >= 0 {
		return append(dst, sf.ColIndex)
	}
	for i := range sf.Children {
		dst = appendLeaves(dst, &sf.Children[i])
	}
	return dst
}

// next decodes the next batch, re-labelled with the source's schema (which
// carries the GeoArrow metadata), or returns nil at the end.
func (s *parquetSource) next(rr pqarrow.RecordReader) (out arrow.RecordBatch, err error) {
	defer recovered(s.name, "decoding Parquet", &err)
	var rec arrow.RecordBatch
	switch {
	case rr == nil: // granary reads every column itself
		n := min(int64(s.o.batchSize), s.rows-s.done)
		if n <= 0 {
			return nil, nil
		}
		if rec, err = s.withOwn(nil, n); err != nil {
			return nil, s.decodeError(err)
		}
		defer rec.Release()
	case !rr.Next():
		if err := rr.Err(); err != nil {
			return nil, s.decodeError(parquetOpenErr(err))
		}
		return nil, nil
	default:
		rec = rr.RecordBatch()
		if s.own != nil {
			if rec, err = s.withOwn(rec, rec.NumRows()); err != nil {
				return nil, s.decodeError(err)
			}
			defer rec.Release()
		}
	}
	s.done += rec.NumRows()
	if s.retype != nil {
		rec = relabelColumns(rec, s.retype)
		defer rec.Release()
	}
	out, err = checked(s.schema, rec, s.o.validate)
	if err != nil {
		return nil, &Error{File: s.name, Err: fmt.Errorf("decoding Parquet: corrupt data: %w", err)}
	}
	return out, nil
}

// decodeError names the file, and the writer's bug when it is known.
func (s *parquetSource) decodeError(err error) error {
	hint := ""
	if strings.HasPrefix(s.rdr.MetaData().GetCreatedBy(), "parquet-cpp version 1.") && strings.Contains(strings.ToLower(err.Error()), "eof") {
		// ARROW-10353: Arrow ≤ 2.0 compressed DataPage V2 pages it
		// marked as uncompressed.
		hint = " (the file was written by Arrow ≤ 2.0, whose DataPage V2 pages can be compressed although marked uncompressed, ARROW-10353: rewrite it with a current Arrow)"
	}
	return &Error{File: s.name, Err: fmt.Errorf("decoding Parquet: %w%s", err, hint)}
}

// withOwn returns the record of every column: part's (pqarrow's, nil
// when it reads none) with the next n rows of s.own put in.
func (s *parquetSource) withOwn(part arrow.RecordBatch, n int64) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, s.decoded.NumFields())
	own := cols[:0:0]
	defer func() {
		for _, a := range own {
			a.Release()
		}
	}()
	for _, c := range s.own {
		a, err := c.next(n)
		if err != nil {
			return nil, err
		}
		own = append(own, a)
		cols[c.fieldIndex()] = a
	}
	j := 0
	for i := range cols {
		if cols[i] == nil {
			cols[i] = part.Column(j)
			j++
		}
	}
	return array.NewRecordBatch(s.decoded, cols, n), nil
}

// readDurationsAsInt64 makes the reader decode Arrow durations as int64.
// Parquet has no duration type: Arrow writers (pyarrow, arrow-go, granary's
// export) store one as INT64 and name the type only in the file's stored
// Arrow schema, which arrow-go restores but has no column reader for ("no
// support for reading columns of type: duration"). The values are the
// same 64-bit integers either way, so each decoded column only needs its
// type put back: the returned types, per top-level column (nil when no
// column holds a duration).
func readDurationsAsInt64(m *pqarrow.SchemaManifest) []arrow.DataType {
	var retype []arrow.DataType
	for i := range m.Fields {
		sf := &m.Fields[i]
		if !hasDuration(sf.Field.Type) {
			continue
		}
		if retype == nil {
			retype = make([]arrow.DataType, len(m.Fields))
		}
		retype[i] = sf.Field.Type
		durationsAsInt64(sf)
	}
	return retype
}

// durationsAsInt64 replaces every duration in sf's type tree with int64.
func durationsAsInt64(sf *pqarrow.SchemaField) {
	f := *sf.Field
	f.Type = withoutDurations(f.Type)
	sf.Field = &f
	for i := range sf.Children {
		durationsAsInt64(&sf.Children[i])
	}
}

func hasDuration(dt arrow.DataType) bool {
	if dt.ID() == arrow.DURATION {
		return true
	}
	if nt, ok := dt.(arrow.NestedType); ok {
		for _, f := range nt.Fields() {
			if hasDuration(f.Type) {
				return true
			}
		}
	}
	return false
}

func withoutDurations(dt arrow.DataType) arrow.DataType {
	if !hasDuration(dt) {
		return dt
	}
	field := func(f arrow.Field) arrow.Field {
		f.Type = withoutDurations(f.Type)
		return f
	}
	switch t := dt.(type) {
	case *arrow.DurationType:
		return arrow.PrimitiveTypes.Int64
	case *arrow.ListType:
		return arrow.ListOfField(field(t.ElemField()))
	case *arrow.LargeListType:
		return arrow.LargeListOfField(field(t.ElemField()))
	case *arrow.FixedSizeListType:
		return arrow.FixedSizeListOfField(t.Len(), field(t.ElemField()))
	case *arrow.MapType:
		m := arrow.MapOfFields(field(t.KeyField()), field(t.ItemField()))
		m.KeysSorted = t.KeysSorted
		return m
	case *arrow.StructType:
		fs := make([]arrow.Field, t.NumFields())
		for i := range fs {
			fs[i] = field(t.Field(i))
		}
		return arrow.StructOf(fs...)
	}
	return dt
}

// relabelColumns returns rec with the columns that have a type in types
// re-labelled with it (same buffers, no copy).
func relabelColumns(rec arrow.RecordBatch, types []arrow.DataType) arrow.RecordBatch {
	cols := make([]arrow.Array, rec.NumCols())
	fields := make([]arrow.Field, rec.NumCols())
	for i, col := range rec.Columns() {
		fields[i] = rec.Schema().Field(i)
		if i >= len(types) || types[i] == nil {
			col.Retain()
			cols[i] = col
			continue
		}
		d := relabelData(col.Data(), types[i])
		cols[i] = array.MakeFromData(d)
		d.Release()
		fields[i].Type = types[i]
	}
	md := rec.Schema().Metadata()
	out := array.NewRecordBatch(arrow.NewSchema(fields, &md), cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out
}

// relabelData returns d with type dt, which has the same physical layout.
func relabelData(d arrow.ArrayData, dt arrow.DataType) arrow.ArrayData {
	var kids []arrow.ArrayData
	if nt, ok := dt.(arrow.NestedType); ok && len(d.Children()) > 0 {
		fs := nt.Fields()
		for i, k := range d.Children() {
			kids = append(kids, relabelData(k, fs[i].Type))
		}
	}
	out := array.NewData(dt, d.Len(), d.Buffers(), kids, d.NullN(), d.Offset())
	for _, k := range kids {
		k.Release()
	}
	return out
}

// emptyPageCodec wraps a codec so that an empty compressed block decodes
// to nothing. A DataPage V2 whose values are all null has an empty data
// section; Parquet C++ skips decompressing it, arrow-go hands the zero
// bytes to the codec, and SNAPPY rejects them ("s2: corrupt input").
type emptyPageCodec struct{ compress.Codec }

func (c emptyPageCodec) Decode(dst, src []byte) []byte {
	if len(src) == 0 {
		return dst[:0]
	}
	return c.Codec.Decode(dst, src)
}

func (c emptyPageCodec) DecodeWithError(dst, src []byte) ([]byte, error) {
	if len(src) == 0 {
		return dst[:0], nil
	}
	return compress.Decode(c.Codec, dst, src)
}

type emptyPageStreamingCodec struct {
	emptyPageCodec
	compress.StreamingCodec
}

func init() {
	inner, err := compress.GetCodec(compress.Codecs.Snappy)
	if err != nil {
		return
	}
	if sc, ok := inner.(compress.StreamingCodec); ok {
		compress.RegisterCodec(compress.Codecs.Snappy, emptyPageStreamingCodec{emptyPageCodec{inner}, sc})
		return
	}
	compress.RegisterCodec(compress.Codecs.Snappy, emptyPageCodec{inner})
}
