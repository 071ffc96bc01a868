package export

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// parquetWriter writes Parquet through pqarrow, with the Arrow schema
// stored so that readers restore durations, time zones and extension
// types. As GeoParquet it adds the 1.1 "geo" metadata at the end, when
// the geometry types and the bounding box of everything written are known.
type parquetWriter struct {
	w       *Writer
	fw      *pqarrow.FileWriter
	sc      *arrow.Schema // toOutput's
	written *arrow.Schema // what pqarrow writes
	geo     bool
	geoCols []int
	stats   []geoStats
	bboxCol bool
}

type geoStats struct {
	types                  map[uint32]bool
	minX, minY, maxX, maxY float64
}

func parquetCodec(name string) (compress.Compression, error) {
	switch name {
	case "", "zstd":
		return compress.Codecs.Zstd, nil
	case "snappy":
		return compress.Codecs.Snappy, nil
	case "gzip":
		return compress.Codecs.Gzip, nil
	case "lz4", "lz4_raw":
		return compress.Codecs.Lz4Raw, nil
	case "brotli":
		return compress.Codecs.Brotli, nil
	case "none", "uncompressed":
		return compress.Codecs.Uncompressed, nil
	}
	return 0, fmt.Errorf("export: unknown Parquet compression %q (want zstd, snappy, gzip, lz4, brotli or none)", name)
}

func newParquetWriter(out io.Writer, w *Writer, geo bool) (*parquetWriter, error) {
	codec, err := parquetCodec(w.o.compression)
	if err != nil {
		return nil, err
	}
	p := &parquetWriter{w: w, geo: geo}
	sc := arrowSchemaFor(w, false, nil)
	if geo {
		p.geoCols = geometryColumns(w)
		if len(p.geoCols) == 0 {
			return nil, fmt.Errorf("export: GeoParquet needs a geometry column; dataset %s has none selected (write Parquet instead)", w.ds.Slug())
		}
		for range p.geoCols {
			p.stats = append(p.stats, geoStats{types: map[uint32]bool{}, minX: math.Inf(1), minY: math.Inf(1), maxX: math.Inf(-1), maxY: math.Inf(-1)})
		}
		if w.o.covering {
			if _, taken := w.ds.Field("bbox"); taken {
				return nil, fmt.Errorf("export: dataset %s has a field named bbox; the covering column needs that name", w.ds.Slug())
			}
			p.bboxCol = true
			fs := append(slices.Clone(sc.Fields()), arrow.Field{Name: "bbox", Type: bboxType, Nullable: true})
			sc = arrow.NewSchema(fs, nil)
		}
	}
	// pqarrow cannot write durations: they go as int64 nanoseconds, and
	// the ARROW:schema metadata (written here, as pqarrow would) tells
	// readers to restore the duration type, as it does for pyarrow's files.
	stored := make([]arrow.Field, sc.NumFields())
	written := make([]arrow.Field, sc.NumFields())
	for i, f := range sc.Fields() {
		stored[i], written[i] = f, f
		stored[i].Type, written[i].Type = parquetType(f.Type, false), parquetType(f.Type, true)
	}
	serialized := flight.SerializeSchema(arrow.NewSchema(stored, nil), w.o.mem)
	md := arrow.NewMetadata([]string{"ARROW:schema"}, []string{base64.StdEncoding.EncodeToString(serialized)})
	p.sc = sc
	p.written = arrow.NewSchema(written, &md)
	props := parquet.NewWriterProperties(
		parquet.WithCompression(codec),
		// zstd's fastest level: the export's bottleneck is compression,
		// and level 1 costs a few percent of size.
		parquet.WithCompressionLevel(compressionLevel(codec)),
		parquet.WithVersion(parquet.V2_LATEST),
		parquet.WithMaxRowGroupLength(w.o.rowGroupRows),
		parquet.WithAllocator(w.o.mem),
		parquet.WithCreatedBy("granary"),
	)
	p.fw, err = pqarrow.NewFileWriter(p.written, noCloser{out}, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(w.o.mem)))
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return p, nil
}

// parquetType names list elements "element", as Parquet does, and with
// durations set writes them as int64.
func parquetType(dt arrow.DataType, durations bool) arrow.DataType {
	switch t := dt.(type) {
	case *arrow.ListType:
		return arrow.ListOfField(arrow.Field{Name: "element", Type: parquetType(t.Elem(), durations), Nullable: true})
	case *arrow.DurationType:
		if durations {
			return arrow.PrimitiveTypes.Int64
		}
	}
	return dt
}

// retype gives array data another type of the same layout.
func retype(d arrow.ArrayData, dt arrow.DataType) arrow.ArrayData {
	kids := d.Children()
	if lt, ok := dt.(*arrow.ListType); ok {
		k := retype(kids[0], lt.Elem())
		defer k.Release()
		kids = []arrow.ArrayData{k}
	}
	return array.NewData(dt, d.Len(), d.Buffers(), kids, d.NullN(), d.Offset())
}

func compressionLevel(c compress.Compression) int {
	if c == compress.Codecs.Zstd {
		return 1
	}
	return compress.DefaultCompressionLevel
}

var bboxType = arrow.StructOf(
	arrow.Field{Name: "xmin", Type: arrow.PrimitiveTypes.Float64},
	arrow.Field{Name: "ymin", Type: arrow.PrimitiveTypes.Float64},
	arrow.Field{Name: "xmax", Type: arrow.PrimitiveTypes.Float64},
	arrow.Field{Name: "ymax", Type: arrow.PrimitiveTypes.Float64},
)

func (p *parquetWriter) write(rec arrow.RecordBatch) error {
	var extra []arrow.Array
	if p.geo {
		var bb *array.StructBuilder
		if p.bboxCol {
			bb = array.NewStructBuilder(p.w.o.mem, bboxType)
			defer bb.Release()
		}
		for k, ci := range p.geoCols {
			col := rec.Column(ci).(*array.Binary)
			st := &p.stats[k]
			for i := range col.Len() {
				if col.IsNull(i) {
					if bb != nil && k == 0 {
						bb.AppendNull()
					}
					continue
				}
				info, err := scanWKB(col.Value(i))
				if err != nil {
					return fmt.Errorf("export: column %q row %d: %v", p.w.fields[ci].Name, p.w.rows+int64(i)+1, err)
				}
				st.types[info.typ] = true
				if info.points > 0 {
					st.minX, st.minY = min(st.minX, info.minX), min(st.minY, info.minY)
					st.maxX, st.maxY = max(st.maxX, info.maxX), max(st.maxY, info.maxY)
				}
				if bb != nil && k == 0 {
					if info.points == 0 {
						bb.AppendNull()
						continue
					}
					bb.Append(true)
					for j, v := range []float64{info.minX, info.minY, info.maxX, info.maxY} {
						bb.FieldBuilder(j).(*array.Float64Builder).Append(v)
					}
				}
			}
		}
		if bb != nil {
			a := bb.NewArray()
			defer a.Release()
			extra = append(extra, a)
		}
	}
	out := toOutput(p.w, p.sc, rec, extra...)
	defer out.Release()
	cols := make([]arrow.Array, out.NumCols())
	for i := range cols {
		d := retype(out.Column(i).Data(), p.written.Field(i).Type)
		cols[i] = array.MakeFromData(d)
		d.Release()
	}
	final := array.NewRecordBatch(p.written, cols, out.NumRows())
	for _, c := range cols {
		c.Release()
	}
	defer final.Release()
	if err := p.fw.WriteBuffered(final); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// geoMetadata is GeoParquet 1.1's file metadata.
type geoMetadata struct {
	Version       string               `json:"version"`
	PrimaryColumn string               `json:"primary_column"`
	Columns       map[string]geoColumn `json:"columns"`
}

type geoColumn struct {
	Encoding      string          `json:"encoding"`
	GeometryTypes []string        `json:"geometry_types"`
	BBox          []float64       `json:"bbox,omitempty"`
	Covering      *geoCovering    `json:"covering,omitempty"`
	CRS           json.RawMessage `json:"crs,omitempty"`
}

type geoCovering struct {
	BBox map[string][2]string `json:"bbox"`
}

func (p *parquetWriter) geoJSON() ([]byte, error) {
	md := geoMetadata{Version: "1.1.0", Columns: map[string]geoColumn{}}
	for k, ci := range p.geoCols {
		name := p.w.fields[ci].Name
		if k == 0 {
			md.PrimaryColumn = name
		}
		st := p.stats[k]
		gc := geoColumn{Encoding: "WKB", GeometryTypes: []string{}}
		types := make([]uint32, 0, len(st.types))
		for t := range st.types {
			types = append(types, t)
		}
		slices.Sort(types)
		for _, t := range types {
			gc.GeometryTypes = append(gc.GeometryTypes, wkbTypeNames[t])
		}
		if st.minX <= st.maxX {
			gc.BBox = []float64{st.minX, st.minY, st.maxX, st.maxY}
		}
		if k == 0 && p.bboxCol {
			gc.Covering = &geoCovering{BBox: map[string][2]string{
				"xmin": {"bbox", "xmin"}, "ymin": {"bbox", "ymin"}, "xmax": {"bbox", "xmax"}, "ymax": {"bbox", "ymax"}}}
		}
		md.Columns[name] = gc
	}
	return json.Marshal(md)
}

func (p *parquetWriter) close() error {
	if p.geo {
		b, err := p.geoJSON()
		if err != nil {
			return err
		}
		if err := p.fw.AppendKeyValueMetadata("geo", string(b)); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	if err := p.fw.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
