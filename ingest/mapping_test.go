package ingest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/granaryhq/granary/schema"
)

// rows renders every row of rec as "field=value" joined by spaces.
func rows(rec arrow.RecordBatch) []string {
	var out []string
	for i := 0; i < int(rec.NumRows()); i++ {
		var parts []string
		for c := 0; c < int(rec.NumCols()); c++ {
			parts = append(parts, rec.ColumnName(c)+"="+render(rec.Column(c), i))
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

func TestMapping(t *testing.T) {
	ds := dataset(t, schema.SpatioTemporal,
		field("value", schema.Float64), field("sensor", schema.String), arrayField("history", schema.Float64))
	const day = "2024-01-01T00:00:00Z"
	cases := []struct {
		name   string
		csv    string
		m      Mapping
		want   []string // rendered rows
		err    []string // substrings of the error
		column string   // the error's Column
	}{
		{name: "by name, in field order", csv: "sensor,value,time\na,1.5,2024-01-01\n",
			want: []string{"time=" + day + " value=1.5 sensor=a"}},
		{name: "case and spaces ignored", csv: "Time, VALUE ,Sensor\n2024-01-01,2,b\n",
			want: []string{"time=" + day + " value=2 sensor=b"}},
		{name: "exported file: id and ingestion_time ignored",
			csv:  "time,id,ingestion_time,value\n2024-01-01,0181f4ef-2040-13e7-ba1f-d5575e2a32a4,2024-05-05T00:00:00Z,1\n",
			want: []string{"time=" + day + " value=1"}},
		{name: "geometry", csv: "time,geometry\n2024-01-01,POINT (30 10)\n2024-01-01,\n",
			want: []string{"time=" + day + " geometry=" + wkbHex(pointXY(30, 10)), "time=" + day + " geometry=<null>"}},
		{name: "array column", csv: "time,history\n2024-01-01,\"[1, 2.5]\"\n2024-01-01,[]\n2024-01-01,\n",
			want: []string{"time=" + day + " history=[1, 2.5]", "time=" + day + " history=[]", "time=" + day + " history=<null>"}},
		{name: "unmatched column", csv: "time,value,extra\n2024-01-01,1,x\n", column: "extra",
			err: []string{`measurements.csv: column "extra": matches no field of dataset my_org.measurements (fields: time, geometry, value, sensor, history)`, "--drop"}},
		{name: "unmatched columns", csv: "time,a,b\n", err: []string{`columns "a", "b" match no field`}},
		{name: "drop", csv: "time,value,extra\n2024-01-01,1,x\n", m: Mapping{Drop: []string{"extra"}},
			want: []string{"time=" + day + " value=1"}},
		{name: "drop ignores case", csv: "time,value,Extra\n2024-01-01,1,x\n", m: Mapping{Drop: []string{"extra"}},
			want: []string{"time=" + day + " value=1"}},
		{name: "drop a matching column", csv: "time,value\n2024-01-01,1\n", m: Mapping{Drop: []string{"value"}},
			want: []string{"time=" + day}},
		{name: "drop unknown", csv: "time\n", m: Mapping{Drop: []string{"nope"}}, err: []string{`--drop "nope": no such column (columns: "time")`}},
		{name: "rename", csv: "ts,v,name\n2024-01-01,3,c\n", m: Mapping{Rename: map[string]string{"ts": "time", "v": "value", "name": "sensor"}},
			want: []string{"time=" + day + " value=3 sensor=c"}},
		{name: "rename beats name match", csv: "time,value,when\n2024-01-01,3,2024-02-02\n",
			m:    Mapping{Rename: map[string]string{"when": "time"}, Drop: []string{"time"}},
			want: []string{"time=2024-02-02T00:00:00Z value=3"}},
		{name: "rename unknown column", csv: "time\n", m: Mapping{Rename: map[string]string{"nope": "value"}}, err: []string{"--map nope=value: no such column"}},
		{name: "rename to unknown field", csv: "time,v\n", m: Mapping{Rename: map[string]string{"v": "nope"}}, column: "v",
			err: []string{`--map v=nope: dataset my_org.measurements has no field "nope" (fields: time, geometry, value, sensor, history)`}},
		{name: "rename onto id", csv: "time,v\n", m: Mapping{Rename: map[string]string{"v": "id"}}, column: "v", err: []string{`cannot map onto "id"`}},
		{name: "mapped and dropped", csv: "time,v\n", m: Mapping{Rename: map[string]string{"v": "value"}, Drop: []string{"v"}}, column: "v", err: []string{"both mapped", "and dropped"}},
		{name: "two columns for one field", csv: "time,value,Value\n", column: "Value",
			err: []string{`columns "value" (column 2) and "Value" (column 3) both map to field "value"`}},
		{name: "rename collides", csv: "time,value,v\n", m: Mapping{Rename: map[string]string{"v": "value"}}, column: "v", err: []string{"both map to field \"value\""}},
		{name: "duplicate header", csv: "time,value,value\n", column: "value", err: []string{"both map to field \"value\""}},
		{name: "blank header", csv: "time,,value\n", err: []string{"column 2 has no name", `--drop ""`}},
		{name: "blank header dropped", csv: "time,,value\n2024-01-01,x,1\n", m: Mapping{Drop: []string{""}},
			want: []string{"time=" + day + " value=1"}},
		{name: "missing time", csv: "value\n1\n", err: []string{`no column for the required field "time" (columns: "value")`, "--map COLUMN=time", "--set time="}},
		{name: "set time", csv: "value\n1\n2\n", m: Mapping{Set: map[string]string{"time": "2024-01-01"}},
			want: []string{"time=" + day + " value=1", "time=" + day + " value=2"}},
		{name: "set constants", csv: "time,value\n2024-01-01,1\n2024-01-01,2\n", m: Mapping{Set: map[string]string{"sensor": "s-1", "history": "[1, null, 2]", "geometry": "POINT (1 2)"}},
			want: []string{
				"time=" + day + " geometry=" + wkbHex(pointXY(1, 2)) + " value=1 sensor=s-1 history=[1, 2]",
				"time=" + day + " geometry=" + wkbHex(pointXY(1, 2)) + " value=2 sensor=s-1 history=[1, 2]"}},
		{name: "set bad value", csv: "time\n", m: Mapping{Set: map[string]string{"value": "abc"}}, err: []string{`--set value=abc: cannot parse "abc" as float64: not a number`}},
		{name: "set empty value", csv: "time\n", m: Mapping{Set: map[string]string{"value": " "}}, err: []string{"--set value= ", "empty"}},
		{name: "set and column", csv: "time,value\n", m: Mapping{Set: map[string]string{"value": "1"}}, column: "value", err: []string{`field "value" comes from this column and from --set value`}},
		{name: "set unknown field", csv: "time\n", m: Mapping{Set: map[string]string{"nope": "1"}}, err: []string{`--set nope: dataset my_org.measurements has no field "nope"`}},
		{name: "set id", csv: "time\n", m: Mapping{Set: map[string]string{"id": "0181f4ef-2040-13e7-ba1f-d5575e2a32a4"}}, err: []string{"--set id: granary sets that field itself"}},
		{name: "bad cell", csv: "time,value\n2024-01-01,1\n2024-01-02,abc\n", column: "value",
			err: []string{`measurements.csv: row 2 (line 3), column "value": cannot parse "abc" as float64: not a number`}},
		{name: "bad time", csv: "time,value\n2024-13-01,1\n", column: "time",
			err: []string{`measurements.csv: row 1 (line 2), column "time": cannot parse "2024-13-01" as timestamp: month out of range`}},
		{name: "bad array element", csv: "time,history\n2024-01-01,\"[1, x]\"\n", column: "history",
			err: []string{`row 1 (line 2), column "history": cannot parse "[1, x]" as float64[]: element 2: not a number`}},
		{name: "renamed column named in errors", csv: "ts,v\n2024-01-01,abc\n", m: Mapping{Rename: map[string]string{"ts": "time", "v": "value"}}, column: "v",
			err: []string{`column "v": cannot parse "abc" as float64`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "measurements.csv", tc.csv)
			var got []string
			// One row per batch: constants and row numbers must survive batching.
			_, err := mapFile(t, p, ds, tc.m, func(r arrow.RecordBatch) { got = append(got, rows(r)...) }, WithBatchSize(1))
			if len(tc.err) > 0 {
				wantErr(t, err, tc.err...)
				if e := asError(t, err); e.Column != tc.column {
					t.Errorf("Column = %q, want %q", e.Column, tc.column)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestMapperErrorFields(t *testing.T) {
	ds := dataset(t, schema.Temporal, field("value", schema.Float64))
	p := writeFile(t, "m.csv", "time,value\n2024-01-01,1\n\n2024-01-01,\"1\n2\"\n")
	_, err := mapFile(t, p, ds, Mapping{}, nil)
	e := asError(t, err)
	want := Error{File: "m.csv", Row: 2, Line: 4, Column: "value", Value: "1\n2", Target: "float64", parse: true}
	e.Err = nil
	if *e != want {
		t.Errorf("got %+v\nwant %+v", *e, want)
	}
}

func TestMapperSchemaAndAssignments(t *testing.T) {
	ds := dataset(t, schema.Temporal, field("a", schema.Int64), field("b", schema.String), arrayField("c", schema.Vec3))
	src := arrow.NewSchema([]arrow.Field{
		{Name: "c", Type: arrow.BinaryTypes.String},
		{Name: "when", Type: arrow.BinaryTypes.String},
		{Name: "id", Type: arrow.BinaryTypes.String},
	}, nil)
	m, err := NewMapper(src, ds, Mapping{Rename: map[string]string{"when": "time"}, Set: map[string]string{"b": "x"}}, "f.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := arrow.NewSchema([]arrow.Field{
		{Name: "time", Type: schema.TimestampType, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "c", Type: schema.ArrowType(arrayField("c", schema.Vec3)), Nullable: true},
	}, nil)
	if !m.Schema().Equal(want) {
		t.Errorf("schema %s\nwant %s", m.Schema(), want)
	}
	got := m.Assignments()
	wantA := []Assignment{{Field: "time", Column: "when"}, {Field: "b", Constant: "x"}, {Field: "c", Column: "c"}}
	if !reflect.DeepEqual(got, wantA) {
		t.Errorf("assignments %+v, want %+v", got, wantA)
	}
	if _, err := NewMapper(arrow.NewSchema([]arrow.Field{{Name: "time", Type: arrow.PrimitiveTypes.Float64}}, nil), ds, Mapping{}, "f.parquet"); err == nil {
		t.Error("float64 time column accepted")
	} else {
		wantErr(t, err, `f.parquet: column "time": field "time": no conversion from float64 to timestamp`)
	}
}

func TestParseFlags(t *testing.T) {
	m, err := ParseMapping([]string{"a=b", "x=y=z", "Sensor Name = sensor"}, []string{"junk"}, []string{"value=1", "blob=aGk=", "time=2024-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	want := Mapping{
		Rename: map[string]string{"a": "b", "x=y": "z", "Sensor Name ": "sensor"},
		Drop:   []string{"junk"},
		Set:    map[string]string{"value": "1", "blob": "aGk=", "time": "2024-01-01"},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %+v\nwant %+v", m, want)
	}
	for _, bad := range [][3][]string{
		{{"ab"}, nil, nil},
		{{"=b"}, nil, nil},
		{{"a="}, nil, nil},
		{{"a=b", "a=c"}, nil, nil},
		{nil, nil, {"value"}},
		{nil, nil, {"=1"}},
		{nil, nil, {"value="}},
		{nil, nil, {"v=1", "v=2"}},
	} {
		if _, err := ParseMapping(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("ParseMapping(%q) accepted", bad)
		}
	}
}

// Native Arrow batches (what the Parquet and Feather readers will feed)
// map through the same Mapper: padding is counted across batches and
// errors name rows without lines.
func TestMapArrowBatches(t *testing.T) {
	mem := checkedMem(t)
	ds := dataset(t, schema.Temporal, arrayField("samples", schema.Float64), field("count", schema.Int64))
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "Time", Type: ts(arrow.Microsecond, "UTC")},
		{Name: "samples", Type: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float32)},
		{Name: "count", Type: arrow.PrimitiveTypes.Uint64},
	}, nil)
	m, err := NewMapper(sc, ds, Mapping{}, "data.parquet", WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	batch := func(times, samples, counts string) arrow.RecordBatch {
		cols := []arrow.Array{
			fromJSON(t, mem, sc.Field(0).Type, times),
			fromJSON(t, mem, sc.Field(1).Type, samples),
			fromJSON(t, mem, sc.Field(2).Type, counts),
		}
		rec := array.NewRecordBatch(sc, cols, int64(cols[0].Len()))
		for _, c := range cols {
			c.Release()
		}
		return rec
	}
	b1 := batch(`[0, 1000000]`, `[[1, "NaN", "NaN"], [1, 2, 3]]`, `[1, 2]`)
	defer b1.Release()
	out, err := m.Map(Batch{Record: b1, FirstRow: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"time=1970-01-01T00:00:00Z samples=[1] count=1",
		"time=1970-01-01T00:00:01Z samples=[1, 2, 3] count=2",
	}
	if got := rows(out); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
	out.Release()
	b2 := batch(`[0, 0]`, `[[null, null, null], [1, 2, "NaN"]]`, `[3, 18446744073709551615]`)
	defer b2.Release()
	_, err = m.Map(Batch{Record: b2, FirstRow: 3})
	wantErr(t, err, `data.parquet: row 4, column "count": cannot convert "18446744073709551615" to int64: out of range for int64`)
	if e := asError(t, err); e.Line != 0 || e.Row != 4 {
		t.Errorf("row %d line %d", e.Row, e.Line)
	}
	b3 := batch(`[0]`, `[[null, null, null]]`, `[3]`)
	defer b3.Release()
	out, err = m.Map(Batch{Record: b3, FirstRow: 5})
	if err != nil {
		t.Fatal(err)
	}
	out.Release()
	if st := m.Stats(); st != (Stats{Rows: 3, Padding: 2 + 3}) {
		t.Errorf("stats %+v", st)
	}
	// A batch of another schema is refused, not misread.
	other := arrow.NewSchema([]arrow.Field{{Name: "Time", Type: arrow.BinaryTypes.String}, sc.Field(1), sc.Field(2)}, nil)
	cols := []arrow.Array{stringArray(mem, "2024-01-01"), fromJSON(t, mem, sc.Field(1).Type, `[[1, 2, 3]]`), fromJSON(t, mem, sc.Field(2).Type, `[1]`)}
	rec := array.NewRecordBatch(other, cols, 1)
	for _, c := range cols {
		c.Release()
	}
	defer rec.Release()
	_, err = m.Map(Batch{Record: rec, FirstRow: 1})
	wantErr(t, err, `column "Time"`, "the mapper was made for timestamp")
}
