package schema

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/reflect/protoreflect"
)

const good = `group: my_org
code_name: measurements
name: Measurements
kind: temporal
fields:
  - {name: value, type: float64, description: A numeric measurement}
  - {name: sensor, type: string}
  - {name: precise_time, type: timestamp}
  - {name: sensor_history, type: float64, array: true}
  - {name: tags, type: "string[]"}
`

func TestParseGood(t *testing.T) {
	d, err := Parse("m.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if d.Slug() != "my_org.measurements" || d.Kind != Temporal || d.Name != "Measurements" {
		t.Fatalf("got %+v", d)
	}
	want := []struct {
		name  string
		typ   Type
		array bool
		num   int32
	}{
		{"time", Timestamp, false, 1}, {"id", UUID, false, 2}, {"ingestion_time", Timestamp, false, 3},
		{"value", Float64, false, 4}, {"sensor", String, false, 5}, {"precise_time", Timestamp, false, 6},
		{"sensor_history", Float64, true, 7}, {"tags", String, true, 8},
	}
	if len(d.Fields) != len(want) {
		t.Fatalf("got %d fields, want %d", len(d.Fields), len(want))
	}
	for i, w := range want {
		f := d.Fields[i]
		if f.Name != w.name || f.Type != w.typ || f.Array != w.array || f.Number != w.num {
			t.Errorf("field %d = %+v, want %+v", i, f, w)
		}
	}
	if d.Fields[3].Description != "A numeric measurement" {
		t.Errorf("description lost: %q", d.Fields[3].Description)
	}
}

func TestParseSpatioTemporalAddsGeometry(t *testing.T) {
	d, err := Parse("g.yaml", []byte("code_name: granules\nkind: spatiotemporal\nfields:\n  - {name: name, type: string}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := d.Field("geometry"); !ok || f.Number != 4 || f.Type != Geometry {
		t.Fatalf("geometry = %+v, %v", f, ok)
	}
	if f, _ := d.Field("name"); f.Number != 5 {
		t.Fatalf("custom field number = %d, want 5", f.Number)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"reserved", "code_name: a\nkind: temporal\nfields:\n  - {name: time, type: timestamp}\n", 4, "reserved"},
		{"reserved geometry", "code_name: a\nkind: spatiotemporal\nfields:\n  - {name: x, type: int64}\n  - {name: geometry, type: geometry}\n", 5, "reserved"},
		{"duplicate", "code_name: a\nkind: temporal\nfields:\n  - {name: x, type: int64}\n  - {name: x, type: string}\n", 5, "already defined on line 4"},
		{"unknown type", "code_name: a\nkind: temporal\nfields:\n  - {name: x, type: decimal}\n", 4, `unknown field type "decimal"`},
		{"bad yaml", "code_name: a\nkind: temporal\nfields:\n  - {name: x, type: int64\n", 3, "invalid YAML"},
		{"unknown key", "code_name: a\nkind: temporal\ncolor: red\n", 3, `unknown key "color"`},
		{"unknown field key", "code_name: a\nkind: temporal\nfields:\n  - {name: x, typ: int64}\n", 4, `unknown field key "typ"`},
		{"camel case", "code_name: a\nkind: temporal\nfields:\n  - {name: sensorName, type: string}\n", 4, "snake_case"},
		{"no kind", "code_name: a\nfields: []\n", 1, "kind is missing"},
		{"bad kind", "code_name: a\nkind: spatial\n", 2, "unknown dataset kind"},
		{"bad code name", "code_name: My-Data\nkind: temporal\n", 1, "code name"},
		{"no type", "code_name: a\nkind: temporal\nfields:\n  - {name: x}\n", 4, "has no type"},
		{"not a mapping", "- a\n- b\n", 1, "YAML mapping"},
		{"repeated key", "code_name: a\ncode_name: b\nkind: temporal\n", 2, "repeats"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(c.yaml))
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FileError", err)
			}
			if fe.Line != c.line || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %q (line %d), want line %d containing %q", err, fe.Line, c.line, c.want)
			}
			if !strings.HasPrefix(err.Error(), "s.yaml:") {
				t.Fatalf("error does not name the file: %q", err)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	d, err := Parse("m.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Parse("again.yaml", b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(d2.Fields) != len(d.Fields) {
		t.Fatalf("round trip lost fields:\n%s", b)
	}
	for i := range d.Fields {
		if d.Fields[i] != d2.Fields[i] {
			t.Errorf("field %d: %+v != %+v", i, d.Fields[i], d2.Fields[i])
		}
	}
}

func TestDescriptor(t *testing.T) {
	d, err := Parse("m.yaml", []byte(strings.Replace(good, "kind: temporal", "kind: spatiotemporal", 1)))
	if err != nil {
		t.Fatal(err)
	}
	d.GroupID = uuid.MustParse("f0d858d7-4920-4e39-b7cd-b811652990eb")
	fd := d.FileDescriptor()
	if got, want := fd.GetName(), "datasets/v1/group_f0d858d749204e39b7cdb811652990eb/Measurements.proto"; got != want {
		t.Errorf("file name %q, want %q", got, want)
	}
	if got, want := d.TypeURL(), "datasets.v1.group_f0d858d749204e39b7cdb811652990eb.Measurements"; got != want {
		t.Errorf("type url %q, want %q", got, want)
	}
	if got := strings.Join(fd.GetDependency(), ","); got != "google/protobuf/duration.proto,google/protobuf/timestamp.proto,datasets/v1/well_known_types.proto" {
		t.Errorf("dependencies %s", got)
	}
	md, err := d.MessageDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name     string
		num      protoreflect.FieldNumber
		kind     protoreflect.Kind
		msg      protoreflect.FullName
		list     bool
		presence bool
		packed   bool
	}{
		{"time", 1, protoreflect.MessageKind, "google.protobuf.Timestamp", false, true, false},
		{"id", 2, protoreflect.MessageKind, "datasets.v1.UUID", false, true, false},
		{"ingestion_time", 3, protoreflect.MessageKind, "google.protobuf.Timestamp", false, true, false},
		{"geometry", 4, protoreflect.MessageKind, "datasets.v1.Geometry", false, true, false},
		{"value", 5, protoreflect.DoubleKind, "", false, true, false},
		{"sensor", 6, protoreflect.StringKind, "", false, true, false},
		{"sensor_history", 8, protoreflect.DoubleKind, "", true, false, true},
		{"tags", 9, protoreflect.StringKind, "", true, false, false},
	}
	for _, c := range checks {
		f := md.Fields().ByName(protoreflect.Name(c.name))
		if f == nil {
			t.Errorf("no field %s", c.name)
			continue
		}
		if f.Number() != c.num || f.Kind() != c.kind || f.IsList() != c.list || f.HasPresence() != c.presence || f.IsPacked() != c.packed {
			t.Errorf("%s: number %d kind %v list %v presence %v packed %v", c.name, f.Number(), f.Kind(), f.IsList(), f.HasPresence(), f.IsPacked())
		}
		if c.msg != "" && f.Message().FullName() != c.msg {
			t.Errorf("%s: message %s, want %s", c.name, f.Message().FullName(), c.msg)
		}
	}
	if md.Fields().ByName("sensorHistory") != nil || md.Fields().ByName("sensor_history").JSONName() != "sensorHistory" {
		t.Errorf("json name of sensor_history = %q", md.Fields().ByName("sensor_history").JSONName())
	}
	// Round trip through the delivered form.
	fields, err := FromDescriptor(d.Kind, fd.GetMessageType()[0])
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range fields {
		g := d.Fields[i]
		if f.Name != g.Name || f.Type != g.Type || f.Array != g.Array || f.Number != g.Number {
			t.Errorf("FromDescriptor field %d = %+v, want %+v", i, f, g)
		}
	}
}

func TestCompatible(t *testing.T) {
	d, _ := New("g", "a", "A", Temporal, []Field{{Name: "x", Type: Int64}})
	added, _ := New("g", "a", "A", Temporal, []Field{{Name: "x", Type: Int64}, {Name: "y", Type: String}})
	if err := d.Compatible(added); err != nil {
		t.Errorf("adding a field: %v", err)
	}
	changed, _ := New("g", "a", "A", Temporal, []Field{{Name: "x", Type: String}})
	if err := d.Compatible(changed); err == nil {
		t.Error("changing a type passed")
	}
	removed, _ := New("g", "a", "A", Temporal, nil)
	if err := d.Compatible(removed); err == nil || !strings.Contains(err.Error(), "removed") {
		t.Errorf("removing a field: %v", err)
	}
}
