// Package ingest reads files into Arrow record batches and maps their
// columns onto a dataset schema.
//
// A Source streams a file as record batches in the file's own column types
// (for CSV every column is utf8, an empty cell null). Open picks the reader
// by the file's first (or, for damaged headers, last) bytes, never by its
// name: CSV/TSV (also gzipped), Parquet (every codec arrow-go has, dictionary,
// delta and byte-stream-split encodings, v1/v2 pages, nested lists, INT96
// and every timestamp unit), GeoParquet, the Arrow IPC file format (Feather
// v2; uncompressed, LZ4, ZSTD) and the Arrow IPC stream format. Feather v1,
// Arrow 0.17's experimental compression, encrypted Parquet and Parquet's
// deprecated LZ4 codec are refused with an error naming the format.
//
// Binary files are untrusted: panics inside the decoders become errors
// naming the file, a Parquet file must decode to the rows its footer
// declares, pages (WithMaxPageBytes), IPC messages (WithMaxMessageBytes)
// and the memory a source holds (WithMemoryLimit) are bounded, and every
// decoded batch is validated (WithValidation). PoolAllocator recycles
// Arrow buffers between batches. Two kinds of flat Parquet column bypass
// pqarrow: strings and binaries, whose pages arrow-go decodes but granary
// copies into Arrow arrays in one pass (pqarrow's builders append value by
// value), and PLAIN or dictionary-encoded INT64 columns (integers and
// timestamps), whose pages granary decodes itself with the dictionary read
// once (arrow-go grows it batch by batch). Both refuse a definition level
// out of range, which pqarrow reads as a value.
//
// Geometry: sources implement GeoSource. GeoParquet "geo" metadata (0.4.0 to
// 2.0-dev), Parquet GEOMETRY/GEOGRAPHY logical types and GeoArrow extension
// types mark geometry columns, which map onto geometry fields from WKB, WKT
// or the native GeoArrow encodings (point … multipolygon, box), and only
// when their CRS is longitude/latitude (absent, OGC:CRS84, EPSG:4326);
// another CRS is an error naming it. The file's primary geometry column
// fills a dataset's geometry field when no column is named geometry.
// ValidateGeoParquet judges a file's GeoParquet declaration; InferSchema
// proposes a dataset schema for a file.
//
// A Mapper turns each
// batch into a record in the dataset's canonical Arrow types
// (schema.ArrowType), converting values and reporting the first bad one as
// an *Error naming file, row, line (CSV), column and value. Every reader
// feeds the same Mapper, so the same table read from CSV, Parquet or
// Feather maps to the same canonical record. Nothing is dropped or rounded
// unasked: WithForce2D drops the Z and M ordinates of geometries (refused
// otherwise), WithRoundFloats rounds decimals and large integers into
// float64 fields (refused otherwise), and WithoutGeometryFix keeps
// geometries as given instead of cutting them at the antimeridian.
//
//	src, err := ingest.Open("measurements.csv")
//	...
//	defer src.Close()
//	m, err := ingest.NewMapper(src.Schema(), ds, ingest.Mapping{}, src.Name())
//	...
//	for b, err := range src.Batches() {
//		if err != nil { return err }
//		rec, err := m.Map(b)
//		if err != nil { return err }
//		// rec: canonical types, columns named as fields, field order
//		rec.Release()
//	}
//
// # Text
//
// Text (CSV cells, string columns of any format, --set values) converts to
// each field type by these rules; a blank value is null for every type but
// string.
//
//	int64, uint64  base-10 integers, range-checked ("5.0" and "1e3" are errors)
//	float64        decimal or hex floats; NaN, Inf, Infinity with any sign and case
//	bool           true/false, 1/0, yes/no in any case
//	bytes          base64 (standard or URL alphabet, padding optional) or 0x-hex
//	timestamp      ISO 8601 / RFC 3339: 2024-01-02, 2024-01-02T03:04:05.123456789Z,
//	               "2024-01-02 03:04:05" (no zone = UTC), offsets ±hh:mm, ±hhmm, ±hh;
//	               bare numbers (unix seconds or millis?) and leap seconds are errors
//	duration       Go (1h2m3.5s, -90m) or ISO 8601 (PT1H30M, P1DT2H, P2W; no years or months)
//	uuid           canonical, upper case, {braced}, urn:uuid:, or 32 hex digits
//	geometry       WKT/EWKT, hex WKB/EWKB, GeoJSON; stored as little-endian WKB
//	vec3 & co      [x, y, z], "x y z" or {"x": 1, "y": 2, "z": 3}, members in field order
//	               (latlon is [latitude, longitude])
//	arrays         JSON-ish literals: [-12.15, 13.45], ["a", "b"], [], [[1,2,3],[4,5,6]];
//	               null elements are dropped; the cell "null" is a null array
//
// # Arrow types
//
// Native columns convert where nothing is lost: integers of every width
// (range-checked), floats to float64, integers and decimals to float64 only
// when exact, decimals to integers only when whole, timestamps of every unit
// and zone and date32/date64 to nanoseconds UTC (range-checked; pandas' NaT
// is null), durations of every unit, binary to bytes, WKB/EWKB to geometry,
// fixed_size_binary(16) and arrow.uuid to uuid, structs (members by name)
// and fixed-size lists to vec3/quaternion/latlon/latlonalt, dictionaries and
// extension types through their values, and list, large_list,
// fixed_size_list and list_view to arrays. A float into an integer field is
// refused.
//
// # Padding
//
// Fixed-size lists from ragged data are padded: trailing nulls, NaN and NaT
// of each fixed_size_list row are stripped, and nulls inside
// variable-length lists are dropped, before anything is encoded or hashed.
// Mapper.Stats counts both.
package ingest
