package ingest

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/granaryhq/granary/schema"
)

// columnarEntry is one Parquet, GeoParquet, Feather or Arrow stream file of
// the corpus MANIFEST.
type columnarEntry struct {
	section  string
	dir      string // folder under the corpus root
	file     string // as the MANIFEST names it, relative to dir
	rows     int64  // the Rows column; -1 for "—"
	expected string // the "Expected outcome (robust reader)" cell
}

// manifestSections maps MANIFEST headings (by prefix) to corpus folders
// and the policy the test applies.
var manifestSections = []struct {
	prefix, dir, policy string
}{
	{"Parquet: valid files (a robust", "parquet", "read"},
	{"Parquet codec matrix", "parquet/codecs", "read"},
	{"Parquet: valid files using features", "parquet/unsupported", "unsupported"},
	{"Parquet: resource-limit", "parquet/limits", "limit"},
	{"Parquet: corrupt", "parquet/invalid", "error"},
	{"Parquet: fuzzer", "parquet/invalid/fuzz", "error"},
	{"GeoParquet (metadata", "geoparquet", "read"},
	{"Parquet-native GEOMETRY", "geoparquet/parquet-native", "read"},
	{"GeoParquet: readable Parquet", "geoparquet/invalid", "read"},
	{"Feather v2 / Arrow IPC file format", "feather", "read"},
	{"Feather: legacy", "feather/unsupported", "unsupported"},
	{"Arrow IPC file: fuzzer", "feather/invalid/fuzz", "error-or-valid"},
	{"Arrow IPC stream format", "arrow-stream", "read"},
	{"Arrow IPC stream: invalid", "arrow-stream/invalid", "error-or-empty"},
}

// columnarManifest reads the Parquet/Arrow tables of MANIFEST.md.
func columnarManifest(t *testing.T, dir string) []columnarEntry {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MANIFEST.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []columnarEntry
	sec, secDir := "", ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "### "); ok {
			sec, secDir = "", ""
			for _, s := range manifestSections {
				if strings.HasPrefix(h, s.prefix) {
					sec, secDir = s.prefix, s.dir
				}
			}
			continue
		}
		if sec == "" || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, " | ")
		if len(cells) < 6 {
			continue
		}
		format := strings.TrimSpace(cells[1])
		if format == "CSV" || format == "JSON" || format == "YAML" {
			continue // reference data
		}
		e := columnarEntry{section: sec, dir: secDir, file: strings.Trim(strings.TrimPrefix(cells[0], "| "), "` "), expected: strings.TrimSpace(cells[5])}
		rows := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(cells[3]), "(footer)"))
		if rows == "—" {
			e.rows = -1
		} else if e.rows, err = strconv.ParseInt(rows, 10, 64); err != nil {
			t.Fatalf("MANIFEST row count %q for %s", cells[3], e.file)
		}
		out = append(out, e)
	}
	return out
}

func policyOf(section string) string {
	for _, s := range manifestSections {
		if s.prefix == section {
			return s.policy
		}
	}
	return ""
}

// Where the MANIFEST expects rows but allows a clear error, the error must
// say this (the files arrow-go cannot read; see the report).
var acceptedErrors = map[string]string{
	"ARROW-17100.parquet":          "ARROW-10353",               // "a clear error is acceptable"
	"incorrect_map_schema.parquet": "MAP keys must be required", // "a clear schema error is acceptable"
	"int96_from_spark.parquet":     "INT96",                     // "coercing to ns must error or clamp explicitly"
}

// For "unsupported" files: the error must name the feature.
var unsupportedFeature = map[string]string{
	"encrypt_columns_plaintext_footer.parquet.encrypted": "encrypted",
	"uniform_encryption.parquet.encrypted":               "encrypted",
	"hadoop_lz4_compressed.parquet":                      "LZ4",
	"non_hadoop_lz4_compressed.parquet":                  "LZ4",
	"parquet-wasm_empty_no_columns.parquet":              "no columns",
	"arrow_r_data-arrow_0.17.0_lz4.feather":              "experimental",
	"arrow_r_data-arrow_0.17.0_zstd.feather":             "experimental",
	"pyarrow_v0.17.0.version.2-compression.lz4.feather":  "experimental",
	"feather-v1_iris.feather":                            "Feather v1",
	"feather-v1_mtcars.feather":                          "Feather v1",
}

// Corrupt files whose MANIFEST cell accepts reading the intact rows.
var acceptedRows = map[string]int64{
	"datapage_v1-corrupt-checksum.parquet":                               5120, // CRCs are not verified
	"rle-dict-uncompressed-corrupt-checksum.parquet":                     1000,
	"clusterfuzz-testcase-minimized-parquet-arrow-fuzz-5382863341289472": 5120, // damaged optional page index
}

type readResult struct {
	rows     int64
	err      error
	panicked any
	alloc    uint64 // bytes allocated while reading
	elapsed  time.Duration
}

// readColumnar reads every batch of path under a memory limit.
func readColumnar(path string, opts ...Option) (res readResult) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			res.panicked = r
		}
		runtime.ReadMemStats(&after)
		res.alloc = after.TotalAlloc - before.TotalAlloc
		res.elapsed = time.Since(start)
	}()
	src, err := Open(path, append([]Option{WithMemoryLimit(256 << 20), WithBatchSize(1000)}, opts...)...)
	if err != nil {
		res.err = err
		return res
	}
	defer src.Close()
	for b, err := range src.Batches() {
		if err != nil {
			res.err = err
			return res
		}
		res.rows += b.Record.NumRows()
	}
	return res
}

// TestCorpusColumnar reads every Parquet, GeoParquet, Feather and Arrow
// stream file of the corpus and checks the outcome the MANIFEST expects:
// exactly the MANIFEST's rows, or an error that names the file (and, where
// the MANIFEST asks, the reason); never a panic, never silently wrong row
// counts, never a memory blow-up.
func TestCorpusColumnar(t *testing.T) {
	dir := corpusDir(t)
	entries := columnarManifest(t, dir)
	if len(entries) < 190 {
		t.Fatalf("found only %d Parquet/Arrow entries in MANIFEST.md", len(entries))
	}
	// Every file on disk is in the MANIFEST (and so checked).
	listed := map[string]bool{}
	for _, e := range entries {
		listed[filepath.Join(e.dir, e.file)] = true
	}
	for _, sub := range []string{"parquet", "geoparquet", "feather", "arrow-stream"} {
		filepath.WalkDir(filepath.Join(dir, sub), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.Contains(p, "metadata-cases") {
				return nil
			}
			switch filepath.Ext(p) {
			case ".csv", ".json", ".yaml":
				return nil
			}
			rel, _ := filepath.Rel(dir, p)
			if !listed[rel] {
				t.Errorf("%s is not in the MANIFEST tables", rel)
			}
			return nil
		})
	}

	var ok, expectedErr, deviations []string
	start := time.Now()
	for _, e := range entries {
		t.Run(e.dir+"/"+e.file, func(t *testing.T) {
			path := filepath.Join(dir, e.dir, e.file)
			base := filepath.Base(e.file)
			res := readColumnar(path)
			if res.panicked != nil {
				t.Fatalf("panic: %v", res.panicked)
			}
			if res.alloc > 512<<20 {
				t.Errorf("allocated %d MiB reading a %s file", res.alloc>>20, e.file)
			}
			if res.elapsed > 10*time.Second {
				t.Errorf("took %v", res.elapsed)
			}
			if res.err != nil {
				if !strings.Contains(res.err.Error(), base) {
					t.Errorf("the error does not name the file: %v", res.err)
				}
				var ie *Error
				if !errors.As(res.err, &ie) {
					t.Errorf("want an *ingest.Error, got %T: %v", res.err, res.err)
				}
			}
			policy := policyOf(e.section)
			switch policy {
			case "read":
				if res.err != nil {
					want, allowed := acceptedErrors[base]
					if !allowed {
						t.Fatalf("MANIFEST expects %d rows (%s): %v", e.rows, e.expected, res.err)
					}
					if !strings.Contains(res.err.Error(), want) {
						t.Errorf("error %q does not mention %q", res.err, want)
					}
					expectedErr = append(expectedErr, e.file)
					deviations = append(deviations, fmt.Sprintf("%s: expected %d rows, got a clear error: %v", e.file, e.rows, res.err))
					return
				}
				if res.rows != e.rows {
					t.Fatalf("read %d rows, MANIFEST says %d", res.rows, e.rows)
				}
				ok = append(ok, e.file)
			case "unsupported":
				if res.err == nil {
					if res.rows != e.rows {
						t.Fatalf("read %d rows, MANIFEST says %d", res.rows, e.rows)
					}
					ok = append(ok, e.file)
					return
				}
				if want := unsupportedFeature[base]; want == "" || !strings.Contains(res.err.Error(), want) {
					t.Errorf("error %q does not name the feature %q", res.err, want)
				}
				expectedErr = append(expectedErr, e.file)
			case "limit":
				if res.err == nil || !strings.Contains(res.err.Error(), "limit") {
					t.Fatalf("want a size-limit error, got %d rows, %v", res.rows, res.err)
				}
				expectedErr = append(expectedErr, e.file)
			case "error":
				if res.err == nil {
					if want, ok2 := acceptedRows[base]; ok2 && res.rows == want {
						ok = append(ok, e.file)
						return
					}
					t.Fatalf("read %d rows without an error; MANIFEST expects: %s", res.rows, e.expected)
				}
				expectedErr = append(expectedErr, e.file)
			case "error-or-valid":
				// Every batch returned passed full validation (WithValidation
				// is on by default).
				if res.err == nil {
					ok = append(ok, e.file)
				} else {
					expectedErr = append(expectedErr, e.file)
				}
			case "error-or-empty":
				if res.err == nil && res.rows != 0 {
					t.Fatalf("read %d rows; MANIFEST expects an error or 0 rows", res.rows)
				}
				if base == "schema_v6.arrow" && (res.err == nil || !strings.Contains(res.err.Error(), "metadata version")) {
					t.Fatalf("want an unsupported metadata version error, got %v", res.err)
				}
				if res.err == nil {
					ok = append(ok, e.file)
				} else {
					expectedErr = append(expectedErr, e.file)
				}
			default:
				t.Fatalf("no policy for section %q", e.section)
			}
		})
	}
	sort.Strings(deviations)
	t.Logf("corpus: %d files read with the MANIFEST's rows, %d expected errors (%d of them deviations) in %v", len(ok), len(expectedErr), len(deviations), time.Since(start).Round(time.Millisecond))
	for _, d := range deviations {
		t.Logf("deviation: %s", d)
	}
}

// readAllRecords reads path into records (retained; release them).
func readAllRecords(t *testing.T, path string, opts ...Option) (*arrow.Schema, []arrow.RecordBatch) {
	t.Helper()
	src, err := Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var recs []arrow.RecordBatch
	for b, err := range src.Batches() {
		if err != nil {
			t.Fatal(err)
		}
		b.Record.Retain()
		recs = append(recs, b.Record)
	}
	return src.Schema(), recs
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// columnChunks concatenates column i of recs.
func columnValues(t *testing.T, recs []arrow.RecordBatch, i int) arrow.Array {
	t.Helper()
	var parts []arrow.Array
	for _, r := range recs {
		parts = append(parts, r.Column(i))
	}
	if len(parts) == 0 {
		t.Fatal("no batches")
	}
	a, err := array.Concatenate(parts, memory.NewGoAllocator())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestCorpusGolden checks the decoded values the MANIFEST gives.
func TestCorpusGolden(t *testing.T) {
	dir := corpusDir(t)
	pq := filepath.Join(dir, "parquet")

	t.Run("codecs", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(pq, "codecs", "*.parquet"))
		if len(files) != 7 {
			t.Fatalf("%d codec files", len(files))
		}
		var want []string
		for _, f := range files {
			_, recs := readAllRecords(t, f, WithBatchSize(3))
			var got []string
			for _, r := range recs {
				for i := 0; i < int(r.NumRows()); i++ {
					var row []string
					for c := 0; c < int(r.NumCols()); c++ {
						row = append(row, r.Column(c).ValueStr(i))
					}
					got = append(got, strings.Join(row, "|"))
				}
			}
			releaseAll(recs)
			if want == nil {
				want = got
				continue
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s: %q, want %q", filepath.Base(f), got, want)
			}
		}
	})

	t.Run("byte_stream_split twins", func(t *testing.T) {
		sc, recs := readAllRecords(t, filepath.Join(pq, "byte_stream_split_extended.gzip.parquet"))
		defer releaseAll(recs)
		pairs := 0
		for i, f := range sc.Fields() {
			base, ok := strings.CutSuffix(f.Name, "_byte_stream_split")
			if !ok {
				continue
			}
			j := sc.FieldIndices(base + "_plain")
			if len(j) != 1 {
				t.Fatalf("no plain twin of %s", f.Name)
			}
			a, b := columnValues(t, recs, i), columnValues(t, recs, j[0])
			if !array.Equal(a, b) {
				t.Errorf("%s differs from its PLAIN twin", f.Name)
			}
			a.Release()
			b.Release()
			pairs++
		}
		if pairs != 7 {
			t.Errorf("%d pairs, want 7", pairs)
		}
	})

	t.Run("delta encodings", func(t *testing.T) {
		for _, name := range []string{"delta_binary_packed", "delta_byte_array", "delta_encoding_optional_column", "delta_encoding_required_column"} {
			sc, recs := readAllRecords(t, filepath.Join(pq, name+".parquet"), WithBatchSize(64))
			f, err := os.Open(filepath.Join(pq, name+"_expect.csv"))
			if err != nil {
				t.Fatal(err)
			}
			cr := csv.NewReader(f)
			header, err := cr.Read()
			if err != nil {
				t.Fatal(err)
			}
			if len(header) != sc.NumFields() {
				t.Fatalf("%s: %d CSV columns, %d Parquet columns", name, len(header), sc.NumFields())
			}
			cols := make([]arrow.Array, sc.NumFields())
			for i := range cols {
				cols[i] = columnValues(t, recs, i)
			}
			row := 0
			for {
				rec, err := cr.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				for c, want := range rec {
					got := "<null>"
					if cols[c].IsValid(row) {
						got = cols[c].ValueStr(row)
					}
					if want == "" && (got == "<null>" || got == "") {
						continue
					}
					if got != want {
						t.Fatalf("%s row %d column %s: %q, want %q", name, row+1, header[c], got, want)
					}
				}
				row++
			}
			if row != cols[0].Len() {
				t.Errorf("%s: %d expected rows, %d decoded", name, row, cols[0].Len())
			}
			for _, c := range cols {
				c.Release()
			}
			f.Close()
			releaseAll(recs)
		}
	})

	t.Run("values", func(t *testing.T) {
		// concatenated gzip members: 1..513.
		_, recs := readAllRecords(t, filepath.Join(pq, "concatenated_gzip_members.parquet"), WithBatchSize(100))
		a := columnValues(t, recs, 0).(*array.Uint64)
		for i := 0; i < a.Len(); i++ {
			if a.Value(i) != uint64(i+1) {
				t.Fatalf("row %d: %d", i, a.Value(i))
			}
		}
		a.Release()
		releaseAll(recs)
		// An empty DataPage V2 holds one null.
		_, recs = readAllRecords(t, filepath.Join(pq, "datapage_v2_empty_datapage.snappy.parquet"))
		if v := recs[0].Column(0); v.Len() != 1 || v.IsValid(0) {
			t.Errorf("empty data page: %v, want one null", v)
		}
		releaseAll(recs)
		// An empty list is not null.
		_, recs = readAllRecords(t, filepath.Join(pq, "null_list.parquet"))
		if l := recs[0].Column(0).(array.ListLike); l.IsNull(0) {
			t.Error("null_list: the empty list came back null")
		} else if lo, hi := l.ValueOffsets(0); lo != hi {
			t.Errorf("null_list: %d elements", hi-lo)
		}
		releaseAll(recs)
	})

	t.Run("WKT twins", func(t *testing.T) {
		ds := dataset(t, schema.SpatioTemporal, field("col", schema.Int64))
		m := Mapping{Set: map[string]string{"time": "2024-01-01T00:00:00Z"}}
		twins, _ := filepath.Glob(filepath.Join(dir, "csv", "data-*-wkt.csv"))
		if len(twins) != 6 {
			t.Fatalf("%d WKT twins", len(twins))
		}
		for _, c := range twins {
			kind := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(c), "data-"), "-wkt.csv")
			p := filepath.Join(dir, "geoparquet", "data-"+kind+"-encoding_wkb.parquet")
			a := mappedColumn(t, c, ds, m, "geometry")
			b := mappedColumn(t, p, ds, m, "geometry")
			if !array.Equal(a, b) {
				t.Errorf("%s: WKT and WKB map to different geometries:\n%v\n%v", kind, a, b)
			}
			a.Release()
			b.Release()
		}
	})
}

// mappedColumn reads and maps path onto ds and returns the canonical
// column field, concatenated over batches.
func mappedColumn(t *testing.T, path string, ds *schema.Dataset, m Mapping, field string) arrow.Array {
	t.Helper()
	var parts []arrow.Array
	_, err := mapFile(t, path, ds, m, func(rec arrow.RecordBatch) {
		i := rec.Schema().FieldIndices(field)
		if len(i) != 1 {
			t.Fatalf("no field %s", field)
		}
		c := rec.Column(i[0])
		c.Retain()
		parts = append(parts, c)
	}, WithBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	out, err := array.Concatenate(parts, memory.NewGoAllocator())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		p.Release()
	}
	return out
}
