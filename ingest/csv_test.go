package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/granaryhq/granary/schema"
)

func TestCSVReader(t *testing.T) {
	cases := []struct {
		name    string
		file    string // file name (the extension picks the default delimiter)
		content string
		opts    []Option
		header  []string
		rows    [][]string
		lines   []int64
		err     []string
		errLine int64
	}{
		{name: "plain", content: "a,b\n1,2\n3,4\n", header: []string{"a", "b"}, rows: [][]string{{"1", "2"}, {"3", "4"}}, lines: []int64{2, 3}},
		{name: "BOM and CRLF, no final newline", content: "\ufefftime,id,value\r\n2024-01-01T00:00:00Z,a,1\r\n2024-01-01T00:00:01Z,b,2",
			header: []string{"time", "id", "value"}, rows: [][]string{{"2024-01-01T00:00:00Z", "a", "1"}, {"2024-01-01T00:00:01Z", "b", "2"}}, lines: []int64{2, 3}},
		{name: "quoted newlines, commas, doubled quotes", content: "id,note\n1,\"multi\nline\"\n2,\"a, \"\"b\"\"\"\n3,\"crlf\r\ninside\"\n",
			header: []string{"id", "note"}, rows: [][]string{{"1", "multi\nline"}, {"2", `a, "b"`}, {"3", "crlf\ninside"}}, lines: []int64{2, 4, 5}},
		{name: "empty cells are null", content: "a,b,c\n,\"\", \n", header: []string{"a", "b", "c"}, rows: [][]string{{"<null>", "<null>", " "}}, lines: []int64{2}},
		{name: "blank lines skipped", content: "a\n\n1\n\n2\n", header: []string{"a"}, rows: [][]string{{"1"}, {"2"}}, lines: []int64{3, 5}},
		{name: "header only", content: "time,id,value\n", header: []string{"time", "id", "value"}},
		{name: "header only, no newline", content: "time", header: []string{"time"}},
		{name: "empty file", content: "", err: []string{"f.csv: empty file", "header"}},
		{name: "only a BOM", content: "\ufeff", err: []string{"empty file"}},
		{name: "ragged rows", content: "a,b,c\n1,2,3\n4,5\n", err: []string{"f.csv: row 2 (line 3): wrong number of fields: the header has 3, this row has 2"}, errLine: 3},
		{name: "long row", content: "a,b\n1,2,3\n", err: []string{"row 1 (line 2): wrong number of fields: the header has 2, this row has 3"}, errLine: 2},
		{name: "unterminated quote", content: "a,b\n1,\"never closed\n2,3\n", err: []string{"f.csv: row 1 (line 2)", "quote"}, errLine: 2},
		{name: "bare quote", content: "a\nx\"y\n", err: []string{"row 1 (line 2)", `bare "`}, errLine: 2},
		{name: "tsv by name", file: "f.tsv", content: "a\tb\n1,5\t2\n", header: []string{"a", "b"}, rows: [][]string{{"1,5", "2"}}, lines: []int64{2}},
		{name: "semicolon delimiter", content: "id;lat\n1;52,5\n", opts: []Option{WithDelimiter(';')}, header: []string{"id", "lat"}, rows: [][]string{{"1", "52,5"}}, lines: []int64{2}},
		{name: "semicolon file read with commas", content: "id;lat;lon\n1;52,520008;13,404954\n", err: []string{"row 1 (line 2): wrong number of fields: the header has 1, this row has 3"}},
		{name: "comments", content: "# made by hand\na\n# skip\n1\n", opts: []Option{WithComment('#')}, header: []string{"a"}, rows: [][]string{{"1"}}, lines: []int64{4}},
		{name: "record limit", content: "a\n\"" + strings.Repeat("x", 20000) + "\n", opts: []Option{WithMaxRecordBytes(1000)}, err: []string{"f.csv: row 1", "longer than 1000 bytes"}},
		{name: "record limit not hit", content: "a\n" + strings.Repeat("x", 900) + "\n" + strings.Repeat("y", 900) + "\n", opts: []Option{WithMaxRecordBytes(1000)},
			header: []string{"a"}, rows: [][]string{{strings.Repeat("x", 900)}, {strings.Repeat("y", 900)}}, lines: []int64{2, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.file
			if name == "" {
				name = "f.csv"
			}
			p := writeFile(t, name, tc.content)
			sc, got, batches, err := readAll(t, p, tc.opts...)
			if len(tc.err) > 0 {
				wantErr(t, err, tc.err...)
				if tc.errLine != 0 {
					if e := asError(t, err); e.Line != tc.errLine {
						t.Errorf("Line = %d, want %d", e.Line, tc.errLine)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var header []string
			for _, f := range sc.Fields() {
				header = append(header, f.Name)
				if f.Type.ID() != arrow.STRING {
					t.Errorf("column %q is %s", f.Name, f.Type)
				}
			}
			if !reflect.DeepEqual(header, tc.header) {
				t.Errorf("header %q, want %q", header, tc.header)
			}
			if !reflect.DeepEqual(got, tc.rows) {
				t.Errorf("rows %q, want %q", got, tc.rows)
			}
			var lines []int64
			for _, b := range batches {
				lines = append(lines, b.Lines...)
			}
			if !reflect.DeepEqual(lines, tc.lines) {
				t.Errorf("lines %v, want %v", lines, tc.lines)
			}
		})
	}
}

func gzipped(t *testing.T, s string) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestGzipCSV(t *testing.T) {
	// The name says nothing: the magic bytes decide.
	p := writeFile(t, "data.bin", gzipped(t, "\ufeffa,b\r\n1,2\r\n"))
	_, got, _, err := readAll(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"1", "2"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
	// A gzipped TSV keeps the tab default.
	p = writeFile(t, "data.tsv.gz", gzipped(t, "a\tb\n1\t2\n"))
	if _, got, _, err = readAll(t, p); err != nil || len(got) != 1 || len(got[0]) != 2 {
		t.Errorf("tsv.gz: %q, %v", got, err)
	}
	// Truncated gzip: an error naming the file and line, not a silent short read.
	whole := gzipped(t, "a\n"+strings.Repeat("1\n", 10000))
	p = writeFile(t, "cut.csv.gz", whole[:len(whole)/2])
	_, _, _, err = readAll(t, p)
	wantErr(t, err, "cut.csv.gz", "unexpected EOF")
}

func TestUnsupportedFormats(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    string
	}{
		// Truncated files of the binary formats (read by parquet.go, ipc.go).
		{"PAR1\x15\x00\x15", "parquet: file too small"},
		{"ARROW1\x00\x00\xff\xff\xff\xff", "Arrow IPC file"},
		{"\xff\xff\xff\xff\x10\x00\x00\x00", "truncated"},
		{"FEA1\x00\x00\x00\x00", "unsupported format Feather v1"},
		{"PK\x03\x04\x14\x00", "unsupported format zip archive"},
		{"\x28\xb5\x2f\xfd\x00", "unsupported format zstd"},
		{gzipped(t, "PAR1\x15\x00\x15\x00"), "gzip-compressed Parquet"},
		{"\xff\xfet\x00i\x00m\x00e\x00", "UTF-16"},
	} {
		p := writeFile(t, "input.dat", tc.content)
		_, err := Open(p)
		wantErr(t, err, p, tc.want)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.csv")); err == nil || !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

func TestSourceLifecycle(t *testing.T) {
	p := writeFile(t, "f.csv", "a\n1\n")
	src, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if src.Name() != p {
		t.Errorf("Name %q", src.Name())
	}
	for _, err := range src.Batches() {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range src.Batches() {
		wantErr(t, err, "already read")
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Breaking out of the loop early releases everything (checked allocator).
	mem := checkedMem(t)
	p = writeFile(t, "g.csv", "a\n1\n2\n3\n")
	src, err = Open(p, WithBatchSize(1), WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for b, err := range src.Batches() {
		if err != nil || b.Record.NumRows() != 1 {
			t.Fatal(b, err)
		}
		break
	}
}

// Row and line numbers stay right across batches, including after quoted
// line breaks.
func TestBatchBoundaries(t *testing.T) {
	ds := dataset(t, schema.Temporal, field("value", schema.Float64), field("note", schema.String))
	var b strings.Builder
	b.WriteString("time,value,note\n")
	line := int64(2)
	lines := map[int64]int64{}
	for row := int64(1); row <= 7; row++ {
		lines[row] = line
		note := "plain"
		if row%2 == 0 {
			note = "\"two\nlines\""
			line++
		}
		fmt.Fprintf(&b, "2024-01-01,%d,%s\n", row, note)
		line++
	}
	p := writeFile(t, "batches.csv", b.String())
	var firsts []int64
	src, err := Open(p, WithBatchSize(3))
	if err != nil {
		t.Fatal(err)
	}
	for b, err := range src.Batches() {
		if err != nil {
			t.Fatal(err)
		}
		firsts = append(firsts, b.FirstRow)
		for i := range b.Lines {
			if want := lines[b.FirstRow+int64(i)]; b.Lines[i] != want {
				t.Errorf("row %d: line %d, want %d", b.FirstRow+int64(i), b.Lines[i], want)
			}
		}
	}
	src.Close()
	if !reflect.DeepEqual(firsts, []int64{1, 4, 7}) {
		t.Errorf("batches start at rows %v", firsts)
	}
	var values []string
	st, err := mapFile(t, p, ds, Mapping{}, func(r arrow.RecordBatch) {
		values = append(values, renderAll(r.Column(1))...)
	}, WithBatchSize(3))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(values, ",") != "1,2,3,4,5,6,7" || st.Rows != 7 {
		t.Errorf("values %v, stats %+v", values, st)
	}

	// A bad value in the second and third batch.
	for _, bad := range []int64{5, 7} {
		content := strings.Replace(b.String(), fmt.Sprintf(",%d,", bad), ",oops,", 1)
		p := writeFile(t, "batches.csv", content)
		_, err := mapFile(t, p, ds, Mapping{}, nil, WithBatchSize(3))
		e := asError(t, err)
		if e.Row != bad || e.Line != lines[bad] || e.Column != "value" || e.Value != "oops" {
			t.Errorf("got %+v, want row %d line %d", e, bad, lines[bad])
		}
		wantErr(t, err, fmt.Sprintf("batches.csv: row %d (line %d), column \"value\": cannot parse \"oops\" as float64", bad, lines[bad]))
	}
	// A malformed record in the third batch.
	p = writeFile(t, "batches.csv", b.String()+"2024-01-01,8\n")
	_, err = mapFile(t, p, ds, Mapping{}, nil, WithBatchSize(3))
	wantErr(t, err, fmt.Sprintf("batches.csv: row 8 (line %d): wrong number of fields", line))
}

// corpusDir is ../../shared/corpus relative to this package.
func corpusDir(t *testing.T) string {
	d, err := filepath.Abs(filepath.Join("..", "..", "shared", "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "csv")); err != nil {
		t.Skipf("corpus not found at %s", d)
	}
	return d
}

type manifestEntry struct {
	file     string
	rows     int64 // -1: the manifest expects an error ("—")
	expected string
}

// csvManifest reads the CSV sections of MANIFEST.md.
func csvManifest(t *testing.T, dir string) []manifestEntry {
	f, err := os.Open(filepath.Join(dir, "MANIFEST.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []manifestEntry
	inCSV := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "### ") {
			inCSV = strings.Contains(line, "CSV")
			continue
		}
		if !inCSV || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 7 {
			continue
		}
		e := manifestEntry{file: strings.Trim(strings.TrimSpace(cells[1]), "`"), expected: strings.TrimSpace(cells[6])}
		rows := strings.TrimSpace(cells[4])
		if rows == "—" {
			e.rows = -1
		} else if e.rows, err = strconv.ParseInt(rows, 10, 64); err != nil {
			t.Fatalf("MANIFEST row count %q for %s", rows, e.file)
		}
		out = append(out, e)
	}
	return out
}

// TestCorpusCSV reads every CSV file the corpus MANIFEST lists: each reads
// with the MANIFEST's row count, or fails (where it expects failure) with
// an error naming the file.
func TestCorpusCSV(t *testing.T) {
	dir := corpusDir(t)
	paths := map[string]string{}
	filepath.WalkDir(filepath.Join(dir, "csv"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			paths[d.Name()] = p
		}
		return nil
	})
	entries := csvManifest(t, dir)
	if len(entries) < 30 {
		t.Fatalf("found only %d CSV entries in MANIFEST.md", len(entries))
	}
	for _, e := range entries {
		t.Run(e.file, func(t *testing.T) {
			p, ok := paths[e.file]
			if !ok {
				t.Fatalf("%s is not in csv/", e.file)
			}
			_, rows, _, err := readAll(t, p, WithBatchSize(7))
			switch {
			case e.rows < 0:
				if err == nil {
					t.Fatalf("read %d rows, MANIFEST expects an error: %s", len(rows), e.expected)
				}
				wantErr(t, err, e.file)
				asError(t, err)
				t.Logf("expected error: %v", err)
			case err != nil && e.rows == 0 && strings.Contains(e.expected, `clear "no header" error`):
				wantErr(t, err, e.file, "header")
			case err != nil:
				t.Fatalf("MANIFEST expects %d rows: %v", e.rows, err)
			case int64(len(rows)) != e.rows:
				t.Errorf("read %d rows, MANIFEST says %d", len(rows), e.rows)
			}
		})
	}
	// The delimiter the MANIFEST asks for reads the semicolon file.
	p := paths["semicolon_decimal_comma.csv"]
	if _, rows, _, err := readAll(t, p, WithDelimiter(';')); err != nil || len(rows) != 2 {
		t.Errorf("semicolon_decimal_comma.csv with ';': %d rows, %v", len(rows), err)
	}
}

// TestCorpusMapping checks the mapping outcomes the MANIFEST prescribes.
func TestCorpusMapping(t *testing.T) {
	dir := corpusDir(t)
	csvDir := filepath.Join(dir, "csv")
	at := map[string]string{"time": "2024-01-01"}
	cases := []struct {
		file   string
		ds     *schema.Dataset
		m      Mapping
		rows   int64
		err    string
		row    int64
		line   int64
		column string
		// earlier: the error may come from an earlier row (but the
		// same column), when the rows before are outside granary's rules.
		earlier bool
	}{
		{file: "datafusion_corrupt.csv", ds: dataset(t, schema.Temporal, field("num", schema.Int64), field("str", schema.String)),
			m: Mapping{Set: at}, err: `cannot parse "d" as int64`, row: 4, line: 5, column: "num"},
		{file: "datafusion_newlines_in_values.csv", ds: dataset(t, schema.Temporal, field("ident", schema.Int64), field("message", schema.String)),
			m: Mapping{Set: at, Rename: map[string]string{"id": "ident"}}, err: `cannot parse "value" as int64`, row: 5, line: 13, column: "id"},
		{file: "self-written/type_errors.csv", ds: dataset(t, schema.Temporal, field("count", schema.Int64), field("ratio", schema.Float64), field("flag", schema.Bool), field("when", schema.Timestamp)),
			m: Mapping{Set: at}, err: `cannot parse "twelve" as int64`, row: 3, line: 4, column: "count"},
		{file: "self-written/type_errors.csv", ds: dataset(t, schema.Temporal, field("count", schema.Uint64), field("ratio", schema.Float64), field("flag", schema.Bool), field("when", schema.Timestamp)),
			m: Mapping{Set: at, Drop: []string{"count"}}, err: `cannot parse "maybe" as bool`, row: 5, line: 6, column: "flag"},
		{file: "self-written/array_literals.csv", ds: dataset(t, schema.Temporal, arrayField("coords", schema.Float64), arrayField("tags", schema.String), arrayField("ints", schema.Int64), arrayField("empty_or_null", schema.Float64)),
			m: Mapping{Set: at}, err: "unterminated array", row: 5, line: 6, column: "coords"},
		// Row 18 holds truncated WKT. Package geo is 2-D only and may also
		// refuse the Z/M and POINT EMPTY rows before it (rows 9 to 12).
		{file: "self-written/wkt_geometry.csv", ds: dataset(t, schema.SpatioTemporal),
			err: "parse wkt", row: 18, line: 19, column: "geometry", earlier: true},
		{file: "self-written/bom_crlf.csv", ds: dataset(t, schema.Temporal, field("value", schema.Int64)), rows: 3},
		{file: "self-written/header_quirks.csv", ds: dataset(t, schema.Temporal, field("value", schema.String), field("spaced", schema.String)),
			m: Mapping{Set: at}, err: `both map to field "value"`, column: "value"},
		{file: "self-written/header_quirks.csv", ds: dataset(t, schema.Temporal, field("value", schema.String), field("spaced", schema.String)),
			m: Mapping{Set: at, Drop: []string{"value"}}, err: "column 5 has no name"},
		{file: "self-written/timestamps_iso8601.csv", ds: dataset(t, schema.Temporal, field("label", schema.String), field("duration", schema.Duration)),
			m: Mapping{Rename: map[string]string{"ts": "time"}}, err: `cannot parse "2262-04-11T23:47:16.854775808Z" as timestamp: out of range`, row: 13, line: 14, column: "ts"},
		{file: "self-written/all_types_valid.csv", ds: dataset(t, schema.Temporal, field("string", schema.String), field("int64", schema.Int64),
			field("uint64", schema.Uint64), field("float64", schema.Float64), field("bool", schema.Bool), field("bytes_b64", schema.Bytes),
			field("timestamp", schema.Timestamp), field("duration", schema.Duration), field("uuid", schema.UUID)),
			m: Mapping{Set: at, Drop: []string{"geometry"}}, err: `cannot parse "t" as bool`, row: 7, line: 8, column: "bool"},
		{file: "aggregate_test_100.csv", ds: dataset(t, schema.Temporal, field("c1", schema.String), field("c2", schema.Int64), field("c3", schema.Int64),
			field("c4", schema.Int64), field("c5", schema.Int64), field("c6", schema.Int64), field("c7", schema.Int64), field("c8", schema.Int64),
			field("c9", schema.Uint64), field("c10", schema.Uint64), field("c11", schema.Float64), field("c12", schema.Float64), field("c13", schema.String)),
			m: Mapping{Set: at}, rows: 100},
		{file: "aggregate_test_100.csv.gz", ds: dataset(t, schema.Temporal, field("c1", schema.String), field("c10", schema.Uint64)),
			m: Mapping{Set: at, Drop: []string{"c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c11", "c12", "c13"}}, rows: 100},
		{file: "aggregate_test_100.csv", ds: dataset(t, schema.Temporal, field("c10", schema.Int64)),
			m:   Mapping{Set: at, Drop: []string{"c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c11", "c12", "c13"}},
			err: `cannot parse "11720144131976083864" as int64: out of range`, row: 2, line: 3, column: "c10"},
		{file: "aggregate_test_100_with_dates.csv", ds: dataset(t, schema.Temporal, field("c1", schema.String), field("c15", schema.Timestamp)),
			m: Mapping{Rename: map[string]string{"c14": "time"}, Drop: []string{"c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "c13"}}, rows: 100},
		{file: "data-polygon-wkt.csv", ds: dataset(t, schema.SpatioTemporal, field("col", schema.Int64)), m: Mapping{Set: at}, rows: 4},
		{file: "geoparquet_example.csv", ds: dataset(t, schema.SpatioTemporal, field("pop_est", schema.Float64), field("continent", schema.String),
			field("name", schema.String), field("iso_a3", schema.String), field("gdp_md_est", schema.Int64)), m: Mapping{Set: at}, rows: 5},
		{file: "feather_iris.csv", ds: dataset(t, schema.Temporal, field("sepal_length", schema.Float64), field("species", schema.String)),
			m: Mapping{Set: at, Rename: map[string]string{"Sepal.Length": "sepal_length"}, Drop: []string{"Sepal.Width", "Petal.Length", "Petal.Width"}}, rows: 150},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			st, err := mapFile(t, filepath.Join(csvDir, tc.file), tc.ds, tc.m, nil, WithBatchSize(16))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if st.Rows != tc.rows {
					t.Errorf("mapped %d rows, want %d", st.Rows, tc.rows)
				}
				return
			}
			wantErr(t, err, filepath.Base(tc.file), tc.err)
			e := asError(t, err)
			if tc.earlier && e.Row > 0 && e.Row < tc.row && e.Line == e.Row+1 && e.Column == tc.column {
				t.Logf("failed before row %d: %v", tc.row, err)
				return
			}
			if e.Row != tc.row || e.Line != tc.line || e.Column != tc.column {
				t.Errorf("error at row %d line %d column %q, want row %d line %d column %q: %v", e.Row, e.Line, e.Column, tc.row, tc.line, tc.column, err)
			}
		})
	}
}
