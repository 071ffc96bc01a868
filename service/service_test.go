package service_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/service"
	"github.com/granaryhq/granary/store/sqlite"
)

type fixture struct {
	svc  *service.Service
	ds   *datasetsv1.Dataset
	md   protoreflect.MessageDescriptor
	col  *tileboxv1.ID
	base time.Time
}

func setup(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := service.New(st)
	ctx := context.Background()
	s, err := schema.New("", "readings", "Readings", schema.Temporal, []schema.Field{{Name: "value", Type: schema.Int64}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := svc.CreateDataset(ctx, connect.NewRequest(&datasetsv1.CreateDatasetRequest{Name: "Readings", CodeName: "readings", Type: service.ToDatasetType(s)}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := service.FromPBDataset(resp.Msg)
	if err != nil {
		t.Fatal(err)
	}
	md, err := d.MessageDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	col, err := svc.CreateCollection(ctx, connect.NewRequest(&datasetsv1.CreateCollectionRequest{DatasetId: resp.Msg.GetId(), Name: "c"}))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, ds: resp.Msg, md: md, col: col.Msg.GetCollection().GetId(), base: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// value encodes a datapoint at base+i seconds with value v.
func (f *fixture) value(t *testing.T, i int, v int64) []byte {
	m := dynamicpb.NewMessage(f.md)
	tf := f.md.Fields().ByName("time")
	tm := m.NewField(tf)
	ts := timestamppb.New(f.base.Add(time.Duration(i) * time.Second))
	tm.Message().Set(tm.Message().Descriptor().Fields().ByNumber(1), protoreflect.ValueOfInt64(ts.Seconds))
	m.Set(tf, tm)
	m.Set(f.md.Fields().ByName("value"), protoreflect.ValueOfInt64(v))
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) ingest(t *testing.T, allowExisting bool, values ...[]byte) (*datasetsv1.IngestResponse, error) {
	resp, err := f.svc.Ingest(context.Background(), connect.NewRequest(&datasetsv1.IngestRequest{CollectionId: f.col, Values: values, AllowExisting: allowExisting}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func (f *fixture) count(t *testing.T) uint64 {
	resp, err := f.svc.GetCollectionByName(context.Background(), connect.NewRequest(&datasetsv1.GetCollectionByNameRequest{
		DatasetId: f.ds.GetId(), CollectionName: "c", WithCount: true, WithAvailability: true}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.GetCount()
}

func TestIngestSemantics(t *testing.T) {
	f := setup(t)
	a, b := f.value(t, 0, 1), f.value(t, 1, 2)
	r, err := f.ingest(t, false, a, b)
	if err != nil || r.GetNumCreated() != 2 || len(r.GetDatapointIds()) != 2 {
		t.Fatalf("first ingest: %v %v", r, err)
	}
	// The ID starts with the datapoint time in ms.
	id := r.GetDatapointIds()[0].GetUuid()
	if ms := int64(id[0])<<40 | int64(id[1])<<32 | int64(id[2])<<24 | int64(id[3])<<16 | int64(id[4])<<8 | int64(id[5]); ms != f.base.UnixMilli() {
		t.Fatalf("id time %d, want %d", ms, f.base.UnixMilli())
	}
	c := f.value(t, 2, 3)
	if _, err := f.ingest(t, false, c, a); connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("existing with allow_existing=false: %v", err)
	}
	if n := f.count(t); n != 2 {
		t.Fatalf("failed call wrote something: count %d", n)
	}
	r, err = f.ingest(t, true, c, a)
	if err != nil || r.GetNumCreated() != 1 || r.GetNumExisting() != 1 {
		t.Fatalf("allow_existing=true: %v %v", r, err)
	}
	if got := r.GetDatapointIds()[1].GetUuid(); string(got) != string(id) {
		t.Fatal("existing datapoint did not get its stored id back in position")
	}
	// Invalid values fail the whole call.
	for name, bad := range map[string][]byte{"garbage": {0xff, 0x01}, "no time": {0x20, 0x01}} {
		if _, err := f.ingest(t, true, f.value(t, 9, 9), bad); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := f.count(t); n != 3 {
		t.Fatalf("count %d, want 3", n)
	}
	// Too many values.
	many := make([][]byte, service.MaxValuesPerCall+1)
	for i := range many {
		many[i] = a
	}
	if _, err := f.ingest(t, true, many...); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("8193 values: %v", err)
	}
}

func TestQueryPagination(t *testing.T) {
	f := setup(t)
	var values [][]byte
	for i := range 25 {
		values = append(values, f.value(t, i, int64(i)))
	}
	if _, err := f.ingest(t, false, values...); err != nil {
		t.Fatal(err)
	}
	limit := int64(10)
	req := &datasetsv1.QueryRequest{DatasetId: f.ds.GetId(), Filters: &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{
		StartTime: timestamppb.New(f.base), EndTime: timestamppb.New(f.base.Add(time.Hour))}}, Page: &tileboxv1.Pagination{Limit: &limit}}
	var sizes []int
	var last []byte
	for {
		resp, err := f.svc.Query(context.Background(), connect.NewRequest(req))
		if err != nil {
			t.Fatal(err)
		}
		vals := resp.Msg.GetData().GetValue()
		sizes = append(sizes, len(vals))
		for _, v := range vals {
			m := dynamicpb.NewMessage(f.md)
			if err := proto.Unmarshal(v, m); err != nil {
				t.Fatal(err)
			}
			idm := m.Get(f.md.Fields().ByName("id")).Message()
			id := idm.Get(idm.Descriptor().Fields().ByNumber(1)).Bytes()
			if last != nil && string(id) <= string(last) {
				t.Fatal("ids not ascending")
			}
			last = id
			if !m.Has(f.md.Fields().ByName("ingestion_time")) {
				t.Fatal("no ingestion_time")
			}
		}
		next := resp.Msg.GetNextPage()
		if next == nil {
			break
		}
		if next.GetLimit() != 10 || string(next.GetStartingAfter().GetUuid()) != string(last) {
			t.Fatalf("next_page %v: want limit echoed and the last id", next)
		}
		req.Page = next
	}
	if len(sizes) != 3 || sizes[0] != 10 || sizes[1] != 10 || sizes[2] != 5 {
		t.Fatalf("pages %v, want [10 10 5]", sizes)
	}
	// Exactly one page when the limit equals the count: no trailing empty page.
	limit = 25
	req.Page = &tileboxv1.Pagination{Limit: &limit}
	resp, _ := f.svc.Query(context.Background(), connect.NewRequest(req))
	if len(resp.Msg.GetData().GetValue()) != 25 || resp.Msg.GetNextPage() != nil {
		t.Fatalf("limit=count: %d values, next %v", len(resp.Msg.GetData().GetValue()), resp.Msg.GetNextPage())
	}
	zero := int64(0)
	req.Page = &tileboxv1.Pagination{Limit: &zero}
	if _, err := f.svc.Query(context.Background(), connect.NewRequest(req)); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("limit 0: %v", err)
	}
}

func TestQueryIntervals(t *testing.T) {
	f := setup(t)
	var values [][]byte
	for i := range 10 {
		values = append(values, f.value(t, i, int64(i)))
	}
	r, err := f.ingest(t, false, values...)
	if err != nil {
		t.Fatal(err)
	}
	ids := r.GetDatapointIds()
	ts := func(i int) *timestamppb.Timestamp { return timestamppb.New(f.base.Add(time.Duration(i) * time.Second)) }
	cases := []struct {
		name    string
		filters *datasetsv1.QueryFilters
		want    int
	}{
		{"half-open", &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{StartTime: ts(2), EndTime: ts(5)}}, 3},
		{"end inclusive", &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{StartTime: ts(2), EndTime: ts(5), EndInclusive: true}}, 4},
		{"start exclusive", &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{StartTime: ts(2), EndTime: ts(5), StartExclusive: true}}, 2},
		{"instant", &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{StartTime: ts(3), EndTime: ts(3), EndInclusive: true}}, 1},
		{"empty sentinel", &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{StartTime: timestamppb.New(time.Unix(0, 0)), EndTime: timestamppb.New(time.Unix(0, 0)), StartExclusive: true}}, 0},
		{"before 1970", &datasetsv1.QueryFilters{TimeInterval: &tileboxv1.TimeInterval{StartTime: timestamppb.New(time.Unix(-100, 0)), EndTime: ts(1)}}, 1},
		{"id range inclusive", &datasetsv1.QueryFilters{DatapointInterval: &tileboxv1.IDInterval{StartId: ids[2], EndId: ids[4], EndInclusive: true}}, 3},
		{"id range exclusive", &datasetsv1.QueryFilters{DatapointInterval: &tileboxv1.IDInterval{StartId: ids[2], EndId: ids[4], StartExclusive: true}}, 1},
	}
	for _, c := range cases {
		resp, err := f.svc.Query(context.Background(), connect.NewRequest(&datasetsv1.QueryRequest{DatasetId: f.ds.GetId(), Filters: c.filters}))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := len(resp.Msg.GetData().GetValue()); got != c.want {
			t.Errorf("%s: %d datapoints, want %d", c.name, got, c.want)
		}
	}
	// skip_data: only time, id, ingestion_time.
	resp, err := f.svc.QueryByID(context.Background(), connect.NewRequest(&datasetsv1.QueryByIDRequest{DatasetId: f.ds.GetId(), Id: ids[3], SkipData: true}))
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(f.md)
	proto.Unmarshal(resp.Msg.GetValue(), m)
	if m.Has(f.md.Fields().ByName("value")) || !m.Has(f.md.Fields().ByName("time")) || resp.Msg.GetTypeUrl() != f.ds.GetType().GetTypeUrl() {
		t.Fatalf("skip_data: %v", m)
	}
	missing := &tileboxv1.ID{Uuid: make([]byte, 16)}
	missing.Uuid[15] = 1
	if _, err := f.svc.QueryByID(context.Background(), connect.NewRequest(&datasetsv1.QueryByIDRequest{DatasetId: f.ds.GetId(), Id: missing})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("missing id: %v", err)
	}
	if _, err := f.svc.QueryByID(context.Background(), connect.NewRequest(&datasetsv1.QueryByIDRequest{DatasetId: f.ds.GetId(), Id: &tileboxv1.ID{Uuid: []byte{1}}})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("malformed id: %v", err)
	}
	// Delete is all or nothing.
	if _, err := f.svc.Delete(context.Background(), connect.NewRequest(&datasetsv1.DeleteRequest{CollectionId: f.col, DatapointIds: []*tileboxv1.ID{ids[0], missing}})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("delete with missing id: %v", err)
	}
	if n := f.count(t); n != 10 {
		t.Fatalf("failed delete removed something: %d left", n)
	}
}

func TestDatasetLifecycle(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	get := func(slug string) error {
		_, err := f.svc.GetDataset(ctx, connect.NewRequest(&datasetsv1.GetDatasetRequest{Slug: slug}))
		return err
	}
	if err := get("default.readings"); err != nil {
		t.Fatal(err)
	}
	if err := get("readings"); err != nil {
		t.Fatalf("bare code name: %v", err)
	}
	if err := get("nope"); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("unknown: %v", err)
	}
	s, _ := schema.New("", "readings", "Readings", schema.Temporal, []schema.Field{{Name: "value", Type: schema.Int64}})
	if _, err := f.svc.CreateDataset(ctx, connect.NewRequest(&datasetsv1.CreateDatasetRequest{Name: "R", CodeName: "readings", Type: service.ToDatasetType(s)})); connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := f.svc.CreateCollection(ctx, connect.NewRequest(&datasetsv1.CreateCollectionRequest{DatasetId: f.ds.GetId(), Name: "c"})); connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("duplicate collection: %v", err)
	}
	if _, err := f.ingest(t, true, f.value(t, 0, 1)); err != nil {
		t.Fatal(err)
	}
	// Adding a field is fine with data; removing one is not.
	added, _ := schema.New("", "readings", "Readings", schema.Temporal, []schema.Field{{Name: "value", Type: schema.Int64}, {Name: "note", Type: schema.String}})
	resp, err := f.svc.UpdateDataset(ctx, connect.NewRequest(&datasetsv1.UpdateDatasetRequest{Id: f.ds.GetId(), Type: service.ToDatasetType(added)}))
	if err != nil {
		t.Fatal(err)
	}
	fields := resp.Msg.GetType().GetDescriptorSet().GetFile()[0].GetMessageType()[0].GetField()
	if len(fields) != 5 || fields[3].GetName() != "value" || fields[3].GetNumber() != 4 || fields[4].GetNumber() != 5 {
		t.Fatalf("fields after adding: %v", fields)
	}
	removed, _ := schema.New("", "readings", "Readings", schema.Temporal, nil)
	if _, err := f.svc.UpdateDataset(ctx, connect.NewRequest(&datasetsv1.UpdateDatasetRequest{Id: f.ds.GetId(), Type: service.ToDatasetType(removed)})); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("removing a field with data: %v", err)
	}
	list, err := f.svc.ListDatasets(ctx, connect.NewRequest(&datasetsv1.ListDatasetsRequest{}))
	if err != nil || len(list.Msg.GetDatasets()) != 1 || len(list.Msg.GetGroups()) != 1 || len(list.Msg.GetDatasets()[0].GetCollections()) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
}
