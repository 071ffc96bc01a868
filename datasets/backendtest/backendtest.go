// Package backendtest is one test suite for every backend of the datasets
// client: whatever the client talks to (the embedded store, a server over
// the network), the library must behave the same. Call Run from a test with
// a function that returns a client of a fresh, empty backend.
package backendtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/schema"
)

// Run runs the suite. newClient is called once per subtest and must return a
// client of a new, empty backend (closed by the caller's cleanup).
func Run(t *testing.T, newClient func(t *testing.T) *datasets.Client) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *datasets.Client)
	}{
		{"Datasets", testDatasets},
		{"Collections", testCollections},
		{"IngestAllowExisting", testIngestAllowExisting},
		{"IngestRejectsExisting", testIngestRejectsExisting},
		{"IngestInvalid", testIngestInvalid},
		{"IngestManyCalls", testIngestManyCalls},
		{"QueryTimeIntervals", testQueryTimeIntervals},
		{"QueryIDIntervals", testQueryIDIntervals},
		{"QueryCollections", testQueryCollections},
		{"Pagination", testPagination},
		{"SkipData", testSkipData},
		{"GetInto", testGetInto},
		{"Delete", testDelete},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newClient(t)) })
	}
}

// Base is the time of datapoint 0; datapoint i is i minutes later.
var Base = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func at(i int) time.Time { return Base.Add(time.Duration(i) * time.Minute) }

// Readings creates suite.readings, a temporal dataset with an int64
// "value" and a string "sensor" field.
func Readings(t testing.TB, c *datasets.Client) *datasets.Dataset {
	t.Helper()
	s, err := schema.New("suite", "readings", "Readings", schema.Temporal,
		[]schema.Field{{Name: "value", Type: schema.Int64}, {Name: "sensor", Type: schema.String}})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := c.Datasets.Create(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// footprints is a spatiotemporal dataset with a float64 field.
func footprints(t *testing.T, c *datasets.Client) *datasets.Dataset {
	t.Helper()
	s, err := schema.New("suite", "footprints", "Footprints", schema.SpatioTemporal,
		[]schema.Field{{Name: "cloud_cover", Type: schema.Float64}})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := c.Datasets.Create(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func collection(t testing.TB, c *datasets.Client, ds *datasets.Dataset, name string) *datasets.Collection {
	t.Helper()
	col, err := c.Collections.Create(context.Background(), ds.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return col
}

func setTime(m *dynamicpb.Message, name string, tm time.Time) {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	ts := m.NewField(fd).Message()
	ts.Set(ts.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(tm.Unix()))
	ts.Set(ts.Descriptor().Fields().ByName("nanos"), protoreflect.ValueOfInt32(int32(tm.Nanosecond())))
	m.Set(fd, protoreflect.ValueOfMessage(ts))
}

func getTime(m proto.Message, name string) (time.Time, bool) {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || !r.Has(fd) {
		return time.Time{}, false
	}
	ts := r.Get(fd).Message()
	return time.Unix(ts.Get(ts.Descriptor().Fields().ByName("seconds")).Int(),
		ts.Get(ts.Descriptor().Fields().ByName("nanos")).Int()).UTC(), true
}

func has(m proto.Message, name string) bool {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(protoreflect.Name(name))
	return fd != nil && r.Has(fd)
}

func intField(m proto.Message, name string) int64 {
	r := m.ProtoReflect()
	return r.Get(r.Descriptor().Fields().ByName(protoreflect.Name(name))).Int()
}

// Reading is datapoint i of Readings: time at(i), value v, sensor "s<i%3>".
func Reading(ds *datasets.Dataset, i int, v int64) proto.Message {
	m := ds.NewMessage()
	setTime(m, "time", at(i))
	m.Set(m.Descriptor().Fields().ByName("value"), protoreflect.ValueOfInt64(v))
	m.Set(m.Descriptor().Fields().ByName("sensor"), protoreflect.ValueOfString("s"+string(rune('0'+i%3))))
	return m
}

// ReadingRange is Reading(ds, i, i) for i in [from, to).
func ReadingRange(ds *datasets.Dataset, from, to int) []proto.Message {
	var out []proto.Message
	for i := from; i < to; i++ {
		out = append(out, Reading(ds, i, int64(i)))
	}
	return out
}

// square is a little-endian WKB polygon: a 1°×1° square at (lon, lat).
func square(lon, lat float64) []byte {
	var b bytes.Buffer
	b.WriteByte(1)
	binary.Write(&b, binary.LittleEndian, uint32(3))
	binary.Write(&b, binary.LittleEndian, uint32(1))
	binary.Write(&b, binary.LittleEndian, uint32(5))
	for _, p := range [][2]float64{{lon, lat}, {lon + 1, lat}, {lon + 1, lat + 1}, {lon, lat + 1}, {lon, lat}} {
		binary.Write(&b, binary.LittleEndian, math.Float64bits(p[0]))
		binary.Write(&b, binary.LittleEndian, math.Float64bits(p[1]))
	}
	return b.Bytes()
}

func footprint(ds *datasets.Dataset, i int) proto.Message {
	m := ds.NewMessage()
	setTime(m, "time", at(i))
	gfd := m.Descriptor().Fields().ByName("geometry")
	g := m.NewField(gfd).Message()
	g.Set(g.Descriptor().Fields().ByName("wkb"), protoreflect.ValueOfBytes(square(float64(i), 10)))
	m.Set(gfd, protoreflect.ValueOfMessage(g))
	m.Set(m.Descriptor().Fields().ByName("cloud_cover"), protoreflect.ValueOfFloat64(float64(i)/10))
	return m
}

func ingest(t *testing.T, c *datasets.Client, col *datasets.Collection, points []proto.Message, allowExisting bool) *datasets.IngestResponse {
	t.Helper()
	resp, err := c.Datapoints.Ingest(context.Background(), col.ID, points, allowExisting)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func count(t *testing.T, c *datasets.Client, ds *datasets.Dataset, name string) uint64 {
	t.Helper()
	info, err := c.Collections.Get(context.Background(), ds.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return info.Count
}

// query returns the datapoints matching opts, decoded.
func query(t *testing.T, c *datasets.Client, ds *datasets.Dataset, opts ...datasets.QueryOption) []*dynamicpb.Message {
	t.Helper()
	var got []*dynamicpb.Message
	if err := c.Datapoints.QueryInto(context.Background(), ds, &got, opts...); err != nil {
		t.Fatal(err)
	}
	return got
}

func ids(t *testing.T, ms []*dynamicpb.Message) []uuid.UUID {
	t.Helper()
	out := make([]uuid.UUID, len(ms))
	for i, m := range ms {
		id, err := datasets.IDOf(m)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = id
	}
	return out
}

func wantCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := connect.CodeOf(err); got != code {
		t.Fatalf("got %s (%v), want %s", got, err, code)
	}
}

func testDatasets(t *testing.T, c *datasets.Client) {
	ctx := context.Background()
	ds := Readings(t, c)
	if ds.Slug != "suite.readings" || ds.Name != "Readings" || ds.Schema.Kind != schema.Temporal {
		t.Fatalf("created dataset: slug %q name %q kind %v", ds.Slug, ds.Name, ds.Schema.Kind)
	}
	if ds.Type.GetTypeUrl() == "" || ds.MessageDescriptor().Fields().ByName("value") == nil {
		t.Fatalf("dataset type: %q", ds.Type.GetTypeUrl())
	}
	if string(ds.MessageDescriptor().FullName()) != ds.Type.GetTypeUrl() {
		t.Fatalf("message %s, type_url %s", ds.MessageDescriptor().FullName(), ds.Type.GetTypeUrl())
	}
	for _, slug := range []string{"suite.readings", "readings"} {
		got, err := c.Datasets.Get(ctx, slug)
		if err != nil || got.ID != ds.ID {
			t.Fatalf("Get(%q): %v, %v", slug, got, err)
		}
	}
	if got, err := c.Datasets.GetByID(ctx, ds.ID); err != nil || got.Slug != ds.Slug {
		t.Fatalf("GetByID: %v, %v", got, err)
	}
	s, _ := schema.New("suite", "readings", "Readings again", schema.Temporal, nil)
	if _, err := c.Datasets.Create(ctx, s); !datasets.IsAlreadyExists(err) {
		t.Fatalf("duplicate create: %v", err)
	}
	_, err := c.Datasets.Get(ctx, "suite.no_such")
	if !datasets.IsNotFound(err) || !strings.Contains(err.Error(), "no such dataset") {
		t.Fatalf("unknown dataset: %v", err)
	}
	if _, err := c.Datasets.GetByID(ctx, uuid.New()); !datasets.IsNotFound(err) {
		t.Fatalf("unknown dataset id: %v", err)
	}

	fp := footprints(t, c)
	if fp.Schema.Kind != schema.SpatioTemporal || fp.MessageDescriptor().Fields().ByName("geometry") == nil {
		t.Fatalf("spatiotemporal dataset: %v", fp.Schema.Kind)
	}
	collection(t, c, ds, "one")
	list, err := c.Datasets.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	for _, d := range list {
		slugs = append(slugs, d.Slug)
		if d.ID == ds.ID && (len(d.Collections) != 1 || d.Collections[0].Name != "one") {
			t.Errorf("List: collections of %s: %v", d.Slug, d.Collections)
		}
	}
	slices.Sort(slugs)
	if !slices.Equal(slugs, []string{"suite.footprints", "suite.readings"}) {
		t.Fatalf("List: %v", slugs)
	}

	// Adding a field keeps the old ones.
	s2, _ := schema.New("suite", "readings", "Readings", schema.Temporal,
		[]schema.Field{{Name: "value", Type: schema.Int64}, {Name: "sensor", Type: schema.String}, {Name: "note", Type: schema.String}})
	up, err := c.Datasets.Update(ctx, ds.ID, s2)
	if err != nil {
		t.Fatal(err)
	}
	if up.MessageDescriptor().Fields().ByName("note") == nil || up.MessageDescriptor().Fields().ByName("value") == nil {
		t.Fatalf("updated fields: %v", up.MessageDescriptor().Fields())
	}
}

func testCollections(t *testing.T, c *datasets.Client) {
	ctx := context.Background()
	ds := Readings(t, c)
	a := collection(t, c, ds, "a")
	b := collection(t, c, ds, "b")
	if a.ID == uuid.Nil || a.ID == b.ID || a.Name != "a" {
		t.Fatalf("created: %+v %+v", a, b)
	}
	if _, err := c.Collections.Create(ctx, ds.ID, "a"); !datasets.IsAlreadyExists(err) {
		t.Fatalf("duplicate collection: %v", err)
	}
	if _, err := c.Collections.Create(ctx, uuid.New(), "x"); !datasets.IsNotFound(err) {
		t.Fatalf("collection in unknown dataset: %v", err)
	}
	got, err := c.Collections.Get(ctx, ds.ID, "a")
	if err != nil || got.ID != a.ID || got.Count != 0 || !got.Availability.Start.IsZero() {
		t.Fatalf("Get empty: %+v, %v", got, err)
	}
	if _, err := c.Collections.Get(ctx, ds.ID, "nope"); !datasets.IsNotFound(err) {
		t.Fatalf("Get unknown: %v", err)
	}
	if g, err := c.Collections.GetOrCreate(ctx, ds.ID, "a"); err != nil || g.ID != a.ID {
		t.Fatalf("GetOrCreate existing: %+v, %v", g, err)
	}
	cc, err := c.Collections.GetOrCreate(ctx, ds.ID, "c")
	if err != nil || cc.Name != "c" {
		t.Fatalf("GetOrCreate new: %+v, %v", cc, err)
	}
	names := func() []string {
		list, err := c.Collections.List(ctx, ds.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, col := range list {
			out = append(out, col.Name)
		}
		slices.Sort(out)
		return out
	}
	if n := names(); !slices.Equal(n, []string{"a", "b", "c"}) {
		t.Fatalf("List: %v", n)
	}

	ingest(t, c, a, []proto.Message{Reading(ds, 5, 1), Reading(ds, 2, 2), Reading(ds, 9, 3)}, false)
	info, err := c.Collections.Get(ctx, ds.ID, "a")
	if err != nil {
		t.Fatal(err)
	}
	if info.Count != 3 || !info.Availability.Start.Equal(at(2)) || !info.Availability.End.Equal(at(9)) || !info.Availability.EndInclusive {
		t.Fatalf("availability/count: %+v", info)
	}

	if err := c.Collections.Delete(ctx, ds.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Collections.Delete(ctx, ds.ID, b.ID); !datasets.IsNotFound(err) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := c.Collections.Get(ctx, ds.ID, "b"); !datasets.IsNotFound(err) {
		t.Fatalf("deleted collection still there: %v", err)
	}
	// Deleting a collection takes its datapoints along.
	if err := c.Collections.Delete(ctx, ds.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if got := query(t, c, ds, datasets.WithTemporalExtent(datasets.NewTimeInterval(at(0), at(100)))); len(got) != 0 {
		t.Fatalf("%d datapoints left after deleting their collection", len(got))
	}
	if n := names(); !slices.Equal(n, []string{"c"}) {
		t.Fatalf("List after deletes: %v", n)
	}
}

func testIngestAllowExisting(t *testing.T, c *datasets.Client) {
	ds := Readings(t, c)
	col := collection(t, c, ds, "main")
	first := ingest(t, c, col, ReadingRange(ds, 0, 10), true)
	if first.NumCreated != 10 || first.NumExisting != 0 || len(first.DatapointIDs) != 10 {
		t.Fatalf("first ingest: %+v", first)
	}
	seen := map[uuid.UUID]bool{}
	for i, id := range first.DatapointIDs {
		if seen[id] || id == uuid.Nil {
			t.Fatalf("id %d: %s repeated or nil", i, id)
		}
		seen[id] = true
		// IDs start with the datapoint's time in ms.
		ms := int64(binary.BigEndian.Uint64(append([]byte{0, 0}, id[:6]...)))
		if ms != at(i).UnixMilli() {
			t.Fatalf("id %s: time prefix %d, want %d", id, ms, at(i).UnixMilli())
		}
	}
	again := ingest(t, c, col, ReadingRange(ds, 0, 10), true)
	if again.NumCreated != 0 || again.NumExisting != 10 || !slices.Equal(again.DatapointIDs, first.DatapointIDs) {
		t.Fatalf("re-ingest: %+v", again)
	}
	// Old and new mixed: the new ones are created, ids stay in input order.
	mixed := ingest(t, c, col, ReadingRange(ds, 5, 15), true)
	if mixed.NumCreated != 5 || mixed.NumExisting != 5 || !slices.Equal(mixed.DatapointIDs[:5], first.DatapointIDs[5:]) {
		t.Fatalf("mixed ingest: %+v", mixed)
	}
	// A datapoint twice in one call is stored once.
	dup := ingest(t, c, col, []proto.Message{Reading(ds, 20, 7), Reading(ds, 20, 7)}, true)
	if dup.NumCreated != 1 || dup.NumExisting != 1 || dup.DatapointIDs[0] != dup.DatapointIDs[1] {
		t.Fatalf("duplicate in one call: %+v", dup)
	}
	// A different value at the same time is a different datapoint.
	other := ingest(t, c, col, []proto.Message{Reading(ds, 20, 8)}, true)
	if other.NumCreated != 1 || other.DatapointIDs[0] == dup.DatapointIDs[0] {
		t.Fatalf("same time, other value: %+v", other)
	}
	if n := count(t, c, ds, "main"); n != 17 {
		t.Fatalf("count %d, want 17", n)
	}
}

func testIngestRejectsExisting(t *testing.T, c *datasets.Client) {
	ctx := context.Background()
	ds := Readings(t, c)
	col := collection(t, c, ds, "main")
	first := ingest(t, c, col, ReadingRange(ds, 0, 10), false)
	if first.NumCreated != 10 {
		t.Fatalf("first ingest: %+v", first)
	}
	_, err := c.Datapoints.Ingest(ctx, col.ID, ReadingRange(ds, 0, 10), false)
	wantCode(t, err, connect.CodeAlreadyExists)
	// All or nothing: the new datapoints of a failing call are not stored.
	_, err = c.Datapoints.Ingest(ctx, col.ID, ReadingRange(ds, 8, 14), false)
	wantCode(t, err, connect.CodeAlreadyExists)
	if n := count(t, c, ds, "main"); n != 10 {
		t.Fatalf("count %d after failed calls, want 10", n)
	}
	// The same datapoints go into another collection fine.
	other := collection(t, c, ds, "other")
	if r := ingest(t, c, other, ReadingRange(ds, 0, 10), false); r.NumCreated != 10 || !slices.Equal(r.DatapointIDs, first.DatapointIDs) {
		t.Fatalf("other collection: %+v", r)
	}
}

func testIngestInvalid(t *testing.T, c *datasets.Client) {
	ctx := context.Background()
	ds := Readings(t, c)
	col := collection(t, c, ds, "main")
	good, err := proto.Marshal(Reading(ds, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range map[string][][]byte{
		"garbage":    {good, {0xff, 0xff, 0xff}},
		"empty":      {good, {}},
		"no time":    {good, {0x20, 0x01}}, // field 4 (value) = 1, no time
		"wrong type": {good, {0x0a, 0x03, 'a', 'b', 'c'}},
	} {
		_, err := c.Datapoints.IngestEncoded(ctx, col.ID, values, true)
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: got %v, want invalid_argument", name, err)
		}
	}
	if n := count(t, c, ds, "main"); n != 0 {
		t.Fatalf("invalid calls stored %d datapoints", n)
	}
	_, err = c.Datapoints.IngestEncoded(ctx, uuid.New(), [][]byte{good}, true)
	wantCode(t, err, connect.CodeNotFound)
}

func testIngestManyCalls(t *testing.T, c *datasets.Client) {
	ds := Readings(t, c)
	col := collection(t, c, ds, "main")
	n := datasets.MaxBatch + 100
	points := make([]proto.Message, n)
	for i := range points {
		m := ds.NewMessage()
		setTime(m, "time", Base.Add(time.Duration(i)*time.Second))
		m.Set(m.Descriptor().Fields().ByName("value"), protoreflect.ValueOfInt64(int64(i)))
		points[i] = m
	}
	r := ingest(t, c, col, points, false)
	if r.NumCreated != int64(n) || len(r.DatapointIDs) != n {
		t.Fatalf("ingest of %d: %+v", n, r.NumCreated)
	}
	if got := count(t, c, ds, "main"); got != uint64(n) {
		t.Fatalf("count %d, want %d", got, n)
	}
	got := 0
	for _, err := range c.Datapoints.Query(context.Background(), ds.ID,
		datasets.WithTemporalExtent(datasets.NewTimeInterval(Base, Base.Add(24*time.Hour))), datasets.WithSkipData()) {
		if err != nil {
			t.Fatal(err)
		}
		got++
	}
	if got != n {
		t.Fatalf("query returned %d, want %d", got, n)
	}
}

// tenAndATie ingests readings 0..9 plus a second datapoint at time 3.
func tenAndATie(t *testing.T, c *datasets.Client, ds *datasets.Dataset, col *datasets.Collection) {
	t.Helper()
	ingest(t, c, col, append(ReadingRange(ds, 0, 10), Reading(ds, 3, 33)), false)
}

func checkOrder(t *testing.T, ms []*dynamicpb.Message) {
	t.Helper()
	ids := ids(t, ms)
	for i := 1; i < len(ms); i++ {
		ti, _ := getTime(ms[i], "time")
		tp, _ := getTime(ms[i-1], "time")
		if ti.Before(tp) || (ti.Equal(tp) && bytes.Compare(ids[i][:], ids[i-1][:]) < 0) {
			t.Fatalf("datapoints %d and %d out of (time, id) order", i-1, i)
		}
	}
}

func testQueryTimeIntervals(t *testing.T, c *datasets.Client) {
	ds := Readings(t, c)
	col := collection(t, c, ds, "main")
	tenAndATie(t, c, ds, col)
	for _, tc := range []struct {
		name  string
		ti    datasets.TimeInterval
		times []int
	}{
		{"all", datasets.NewTimeInterval(at(0), at(10)), []int{0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9}},
		{"half-open", datasets.NewTimeInterval(at(2), at(5)), []int{2, 3, 3, 4}},
		{"start exclusive", datasets.TimeInterval{Start: at(2), End: at(5), StartExclusive: true}, []int{3, 3, 4}},
		{"end inclusive", datasets.TimeInterval{Start: at(2), End: at(5), EndInclusive: true}, []int{2, 3, 3, 4, 5}},
		{"both flags", datasets.TimeInterval{Start: at(2), End: at(5), StartExclusive: true, EndInclusive: true}, []int{3, 3, 4, 5}},
		{"at", datasets.At(at(3)), []int{3, 3}},
		{"at nothing", datasets.At(at(3).Add(time.Second)), nil},
		{"reversed", datasets.NewTimeInterval(at(5), at(2)), nil},
		{"empty half-open", datasets.NewTimeInterval(at(4), at(4)), nil},
		{"before", datasets.NewTimeInterval(at(-100), at(0)), nil},
		{"after", datasets.NewTimeInterval(at(10), at(1000)), nil},
		{"wide", datasets.NewTimeInterval(time.Unix(0, 0), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)), []int{0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := query(t, c, ds, datasets.WithTemporalExtent(tc.ti))
			var times []int
			for _, m := range got {
				tm, _ := getTime(m, "time")
				times = append(times, int(tm.Sub(Base)/time.Minute))
			}
			if !slices.Equal(times, tc.times) {
				t.Fatalf("times %v, want %v", times, tc.times)
			}
			checkOrder(t, got)
		})
	}
	// The tie at time 3 comes back with both values.
	got := query(t, c, ds, datasets.WithTemporalExtent(datasets.At(at(3))))
	values := []int64{intField(got[0], "value"), intField(got[1], "value")}
	slices.Sort(values)
	if !slices.Equal(values, []int64{3, 33}) {
		t.Fatalf("values at 3: %v", values)
	}
	// A query needs an extent.
	for _, err := range c.Datapoints.Query(context.Background(), ds.ID) {
		if err == nil {
			t.Fatal("query without extent: no error")
		}
		break
	}
}

func testQueryIDIntervals(t *testing.T, c *datasets.Client) {
	ds := Readings(t, c)
	col := collection(t, c, ds, "main")
	tenAndATie(t, c, ds, col)
	all := ids(t, query(t, c, ds, datasets.WithTemporalExtent(datasets.NewTimeInterval(at(0), at(10)))))
	if len(all) != 11 {
		t.Fatalf("%d datapoints", len(all))
	}
	for _, tc := range []struct {
		name   string
		iv     datasets.IDInterval
		lo, hi int // expected all[lo:hi]
	}{
		{"inclusive", datasets.IDInterval{StartID: all[2], EndID: all[6]}, 2, 7},
		{"start exclusive", datasets.IDInterval{StartID: all[2], EndID: all[6], StartExclusive: true}, 3, 7},
		{"end exclusive", datasets.IDInterval{StartID: all[2], EndID: all[6], EndExclusive: true}, 2, 6},
		{"both exclusive", datasets.IDInterval{StartID: all[2], EndID: all[6], StartExclusive: true, EndExclusive: true}, 3, 6},
		{"one", datasets.IDInterval{StartID: all[4], EndID: all[4]}, 4, 5},
		{"one, exclusive", datasets.IDInterval{StartID: all[4], EndID: all[4], EndExclusive: true}, 4, 4},
		{"reversed", datasets.IDInterval{StartID: all[6], EndID: all[2]}, 0, 0},
		{"everything", datasets.IDInterval{StartID: uuid.UUID{}, EndID: uuid.Max}, 0, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ids(t, query(t, c, ds, datasets.WithTemporalExtent(tc.iv)))
			if want := all[tc.lo:tc.hi]; !slices.Equal(got, want) {
				t.Fatalf("got %d ids %v, want %d %v", len(got), got, len(want), want)
			}
		})
	}
}

func testQueryCollections(t *testing.T, c *datasets.Client) {
	ds := Readings(t, c)
	a := collection(t, c, ds, "a")
	b := collection(t, c, ds, "b")
	empty := collection(t, c, ds, "empty")
	ingest(t, c, a, ReadingRange(ds, 0, 6), false)
	ingest(t, c, b, ReadingRange(ds, 3, 9), false) // 3..5 in both
	ext := datasets.WithTemporalExtent(datasets.NewTimeInterval(at(0), at(100)))
	if got := query(t, c, ds, ext, datasets.WithCollections(a.ID)); len(got) != 6 {
		t.Fatalf("collection a: %d", len(got))
	}
	if got := query(t, c, ds, ext, datasets.WithCollections(empty.ID)); len(got) != 0 {
		t.Fatalf("empty collection: %d", len(got))
	}
	both := query(t, c, ds, ext, datasets.WithCollections(a.ID, b.ID))
	all := query(t, c, ds, ext)
	if !slices.Equal(ids(t, both), ids(t, all)) {
		t.Fatalf("a+b and all differ: %d vs %d", len(both), len(all))
	}
	checkOrder(t, all)
	if len(all) < 9 {
		t.Fatalf("all collections: %d datapoints", len(all))
	}
	for _, err := range c.Datapoints.Query(context.Background(), ds.ID, ext, datasets.WithCollections(uuid.New())) {
		if !datasets.IsNotFound(err) && connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("unknown collection: %v", err)
		}
		break
	}
}

func testPagination(t *testing.T, c *datasets.Client) {
	ds := Readings(t, c)
	a := collection(t, c, ds, "a")
	b := collection(t, c, ds, "b")
	tenAndATie(t, c, ds, a)
	ingest(t, c, b, ReadingRange(ds, 20, 27), false)
	ext := datasets.WithTemporalExtent(datasets.NewTimeInterval(at(0), at(100)))
	want := ids(t, query(t, c, ds, ext))
	if len(want) != 18 {
		t.Fatalf("%d datapoints", len(want))
	}
	for _, size := range []int{1, 2, 3, 5, 17, 18, 19, 1000} {
		got := ids(t, query(t, c, ds, ext, datasets.WithPageSize(size)))
		if !slices.Equal(got, want) {
			t.Fatalf("page size %d: %d ids, want %d (same order)", size, len(got), len(want))
		}
	}
	// Stopping early stops fetching.
	n := 0
	for _, err := range c.Datapoints.Query(context.Background(), ds.ID, ext, datasets.WithPageSize(2)) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	// Pages with skip_data and an ID interval.
	iv := datasets.WithTemporalExtent(datasets.IDInterval{StartID: want[1], EndID: want[15]})
	if got := ids(t, query(t, c, ds, iv, datasets.WithPageSize(4), datasets.WithSkipData())); !slices.Equal(got, want[1:16]) {
		t.Fatalf("paged id interval: %d ids", len(got))
	}
}

func testSkipData(t *testing.T, c *datasets.Client) {
	ds := Readings(t, c)
	col := collection(t, c, ds, "main")
	tenAndATie(t, c, ds, col)
	ext := datasets.WithTemporalExtent(datasets.NewTimeInterval(at(0), at(10)))
	full := query(t, c, ds, ext)
	skip := query(t, c, ds, ext, datasets.WithSkipData())
	if !slices.Equal(ids(t, full), ids(t, skip)) {
		t.Fatal("skip_data changes which datapoints match")
	}
	for i, m := range skip {
		if !has(m, "time") || !has(m, "id") || !has(m, "ingestion_time") {
			t.Fatalf("skip_data datapoint %d lacks metadata", i)
		}
		if has(m, "value") || has(m, "sensor") {
			t.Fatalf("skip_data datapoint %d has data fields", i)
		}
		ft, _ := getTime(full[i], "time")
		st, _ := getTime(m, "time")
		if !ft.Equal(st) {
			t.Fatalf("time %v vs %v", ft, st)
		}
	}
	for i, m := range full {
		if !has(m, "value") || !has(m, "sensor") || !has(m, "ingestion_time") {
			t.Fatalf("full datapoint %d lacks fields", i)
		}
		it, _ := getTime(m, "ingestion_time")
		if it.Before(time.Now().Add(-time.Hour)) || it.After(time.Now().Add(time.Hour)) {
			t.Fatalf("ingestion_time %v", it)
		}
	}

	// Spatiotemporal: geometry is data too.
	fp := footprints(t, c)
	fcol := collection(t, c, fp, "main")
	ingest(t, c, fcol, []proto.Message{footprint(fp, 1), footprint(fp, 2)}, false)
	fext := datasets.WithTemporalExtent(datasets.NewTimeInterval(at(0), at(10)))
	for _, m := range query(t, c, fp, fext) {
		if !has(m, "geometry") || !has(m, "cloud_cover") {
			t.Fatal("full spatiotemporal datapoint lacks geometry")
		}
	}
	for _, m := range query(t, c, fp, fext, datasets.WithSkipData()) {
		if has(m, "geometry") || has(m, "cloud_cover") || !has(m, "id") {
			t.Fatal("skip_data spatiotemporal datapoint has geometry or data")
		}
	}
}

func testGetInto(t *testing.T, c *datasets.Client) {
	ctx := context.Background()
	ds := Readings(t, c)
	col := collection(t, c, ds, "main")
	other := collection(t, c, ds, "other")
	r := ingest(t, c, col, ReadingRange(ds, 0, 5), false)
	id := r.DatapointIDs[3]

	m := ds.NewMessage()
	if err := c.Datapoints.GetInto(ctx, ds, id, m); err != nil {
		t.Fatal(err)
	}
	if got, _ := datasets.IDOf(m); got != id || intField(m, "value") != 3 || !has(m, "ingestion_time") {
		t.Fatalf("GetInto: id %s value %d", got, intField(m, "value"))
	}
	if tm, _ := getTime(m, "time"); !tm.Equal(at(3)) {
		t.Fatalf("GetInto time %v", tm)
	}
	m = ds.NewMessage()
	if err := c.Datapoints.GetInto(ctx, ds, id, m, datasets.WithSkipData()); err != nil {
		t.Fatal(err)
	}
	if has(m, "value") || !has(m, "time") || !has(m, "id") {
		t.Fatal("GetInto with skip_data")
	}
	m = ds.NewMessage()
	if err := c.Datapoints.GetInto(ctx, ds, id, m, datasets.WithCollections(col.ID)); err != nil {
		t.Fatal(err)
	}
	err := c.Datapoints.GetInto(ctx, ds, id, ds.NewMessage(), datasets.WithCollections(other.ID))
	wantCode(t, err, connect.CodeNotFound)
	missing := id
	missing[15] ^= 0xff
	err = c.Datapoints.GetInto(ctx, ds, missing, ds.NewMessage())
	wantCode(t, err, connect.CodeNotFound)
}

func testDelete(t *testing.T, c *datasets.Client) {
	ctx := context.Background()
	ds := Readings(t, c)
	col := collection(t, c, ds, "main")
	r := ingest(t, c, col, ReadingRange(ds, 0, 10), false)
	missing := r.DatapointIDs[0]
	missing[15] ^= 0xff

	// All or nothing: one unknown id, nothing deleted.
	_, err := c.Datapoints.DeleteIDs(ctx, col.ID, []uuid.UUID{r.DatapointIDs[0], missing})
	wantCode(t, err, connect.CodeNotFound)
	if !strings.Contains(err.Error(), missing.String()) {
		t.Errorf("error does not name the missing id: %v", err)
	}
	if n := count(t, c, ds, "main"); n != 10 {
		t.Fatalf("count %d after failed delete, want 10", n)
	}
	n, err := c.Datapoints.DeleteIDs(ctx, col.ID, r.DatapointIDs[:2])
	if err != nil || n != 2 {
		t.Fatalf("DeleteIDs: %d, %v", n, err)
	}
	// Delete by messages from a query.
	got := query(t, c, ds, datasets.WithTemporalExtent(datasets.NewTimeInterval(at(2), at(5))))
	n, err = c.Datapoints.Delete(ctx, col.ID, got)
	if err != nil || n != 3 {
		t.Fatalf("Delete: %d, %v", n, err)
	}
	if n := count(t, c, ds, "main"); n != 5 {
		t.Fatalf("count %d, want 5", n)
	}
	left := ids(t, query(t, c, ds, datasets.WithTemporalExtent(datasets.NewTimeInterval(at(0), at(10)))))
	if !slices.Equal(left, r.DatapointIDs[5:]) {
		t.Fatalf("left: %v", left)
	}
	// Deleted once is gone: deleting again fails.
	_, err = c.Datapoints.DeleteIDs(ctx, col.ID, r.DatapointIDs[:1])
	wantCode(t, err, connect.CodeNotFound)
	// Ids of another collection are not found in this one.
	other := collection(t, c, ds, "other")
	_, err = c.Datapoints.DeleteIDs(ctx, other.ID, r.DatapointIDs[5:6])
	wantCode(t, err, connect.CodeNotFound)
	// Unknown collection.
	_, err = c.Datapoints.DeleteIDs(ctx, uuid.New(), r.DatapointIDs[5:6])
	wantCode(t, err, connect.CodeNotFound)
	// Re-ingesting deleted datapoints brings them back with the same ids.
	again := ingest(t, c, col, ReadingRange(ds, 0, 5), false)
	if again.NumCreated != 5 || !slices.Equal(again.DatapointIDs, r.DatapointIDs[:5]) {
		t.Fatalf("re-ingest after delete: %+v", again)
	}
}
