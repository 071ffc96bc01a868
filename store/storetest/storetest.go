// Package storetest is the conformance suite every store.Store
// implementation must pass. A store's tests call Run with a function that
// opens a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openEmpty(t) })
//	}
//
// Beyond the doc comments of store.Store the suite fixes these behaviours:
// Query with Limit ≤ 0 has no limit; Query and Get over an unknown
// collection fail with ErrNotFound; a Query whose From is after To, or
// that names no collection, is empty; Delete counts a repeated ID once;
// Collections lists by name and Datasets by slug. Query with Boxes returns
// exactly the datapoints one of whose Bounds intersects one of the boxes
// (edges touching count), each once, with the order, limit and errors of a
// plain Query (spatial.go); the suite's coordinates are exact in 32-bit
// floats, so a store may keep boxes as such, rounded outward.
package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

// MakeID returns an ID whose first 6 bytes are the big-endian unix
// milliseconds ms and whose last 10 bytes are seq, big-endian, so IDs sort
// by (ms, seq).
func MakeID(ms int64, seq uint64) store.ID {
	var id store.ID
	binary.BigEndian.PutUint64(id[:8], uint64(ms)<<16)
	binary.BigEndian.PutUint64(id[8:], seq)
	return id
}

// MinID and MaxID bound every ID.
var (
	MinID = store.ID{}
	MaxID = store.ID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// baseMS is the time of the suite's datapoints: 2024-01-01T00:00:00Z.
const baseMS = 1704067200000

// Datapoint returns a datapoint at baseMS+ms with some data that depends on
// its ID and tag.
func Datapoint(ms int64, seq uint64, tag string) store.Datapoint {
	id := MakeID(baseMS+ms, seq)
	// Field 1 first, like canonical datapoint bytes, then a payload.
	data := append([]byte{0x0a, 0x06, 0x08}, binary.AppendUvarint(nil, uint64(baseMS+ms)/1000)...)
	data = append(data, fmt.Sprintf("payload %d/%d %s", ms, seq, tag)...)
	return store.Datapoint{ID: id, Data: data}
}

// Run runs the conformance suite; open must return a fresh, empty store
// and arrange for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			tc.fn(t, &env{t: t, st: st, ctx: t.Context()})
		})
	}
}

type env struct {
	t   *testing.T
	st  store.Store
	ctx context.Context
}

var tests = []struct {
	name string
	fn   func(t *testing.T, e *env)
}{
	{"GroupID", testGroupID},
	{"Dataset/CreateGet", testDatasetCreateGet},
	{"Dataset/DuplicateSlug", testDatasetDuplicate},
	{"Dataset/NotFound", testDatasetNotFound},
	{"Dataset/List", testDatasetList},
	{"Dataset/Update", testDatasetUpdate},
	{"Dataset/UpdateRequireEmpty", testDatasetUpdateRequireEmpty},
	{"Dataset/Delete", testDatasetDelete},
	{"Collection/CreateGetList", testCollectionCreateGet},
	{"Collection/Duplicate", testCollectionDuplicate},
	{"Collection/NotFound", testCollectionNotFound},
	{"Collection/Delete", testCollectionDelete},
	{"Ingest/Created", testIngestCreated},
	{"Ingest/ResultsInInputOrder", testIngestInputOrder},
	{"Ingest/AllowExisting", testIngestAllowExisting},
	{"Ingest/ExistingFailsWholeCall", testIngestExistingFails},
	{"Ingest/RepeatedInCall", testIngestRepeated},
	{"Ingest/CollectionsAreSeparate", testIngestSeparateCollections},
	{"Ingest/EmptyAndUnknown", testIngestEmptyUnknown},
	{"Delete/Deletes", testDelete},
	{"Delete/AllOrNothing", testDeleteAllOrNothing},
	{"Query/Ranges", testQueryRanges},
	{"Query/Limit", testQueryLimit},
	{"Query/MergesCollections", testQueryMerge},
	{"Query/EmptyAndUnknown", testQueryEmpty},
	{"Query/SkipData", testQuerySkipData},
	{"Get", testGet},
	{"CollectionStats", testStats},
	{"Spatial/Prefilter", testSpatialPrefilter},
	{"Spatial/Randomized", testSpatialRandomized},
	{"Spatial/Paging", testSpatialPaging},
	{"Spatial/EmptyAndUnknown", testSpatialEmpty},
	{"Spatial/Delete", testSpatialDelete},
	{"Spatial/DeleteCollectionAndDataset", testSpatialDeleteCollection},
	{"Spatial/AllowExisting", testSpatialAllowExisting},
	{"Spatial/FailedIngestIndexesNothing", testSpatialRollback},
}

// --- helpers ---

func (e *env) dataset(group, code string) *schema.Dataset {
	e.t.Helper()
	d, err := schema.New(group, code, "Dataset "+code, schema.SpatioTemporal, []schema.Field{
		{Name: "value", Type: schema.Float64, Description: "A numeric measurement", Example: "1.5"},
		{Name: "sensor", Type: schema.String},
		{Name: "history", Type: schema.Float64, Array: true, Description: "Earlier values"},
		{Name: "pose", Type: schema.Quaternion, Number: 42},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	d.ID = uuid.New()
	d.Summary = "summary of " + code
	d.Description = "A longer\ndescription of " + code + " with \"quotes\" and ünïcode."
	if d.GroupID, err = e.st.GroupID(e.ctx, group); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) createDataset(group, code string) *schema.Dataset {
	e.t.Helper()
	d := e.dataset(group, code)
	if err := e.st.CreateDataset(e.ctx, d); err != nil {
		e.t.Fatalf("CreateDataset(%s): %v", d.Slug(), err)
	}
	return d
}

func (e *env) collection(ds *schema.Dataset, name string) store.Collection {
	e.t.Helper()
	c, err := e.st.CreateCollection(e.ctx, ds.ID, name)
	if err != nil {
		e.t.Fatalf("CreateCollection(%s, %q): %v", ds.Slug(), name, err)
	}
	return c
}

// newCollection creates a dataset and a collection in it.
func (e *env) newCollection() store.Collection {
	e.t.Helper()
	return e.collection(e.createDataset("test_group", "data"), "main")
}

func (e *env) ingest(c store.Collection, dps []store.Datapoint, allowExisting bool) store.IngestResult {
	e.t.Helper()
	res, err := e.st.Ingest(e.ctx, c.ID, dps, allowExisting)
	if err != nil {
		e.t.Fatalf("Ingest(%d datapoints): %v", len(dps), err)
	}
	if len(res.Existing) != len(dps) {
		e.t.Fatalf("Ingest: %d results for %d datapoints", len(res.Existing), len(dps))
	}
	return res
}

func (e *env) all(cols ...store.Collection) []store.Datapoint {
	e.t.Helper()
	q := store.Query{From: MinID, To: MaxID}
	for _, c := range cols {
		q.Collections = append(q.Collections, c.ID)
	}
	dps, err := e.st.Query(e.ctx, q)
	if err != nil {
		e.t.Fatalf("Query(all): %v", err)
	}
	return dps
}

func (e *env) stats(c store.Collection) store.CollectionStats {
	e.t.Helper()
	st, err := e.st.CollectionStats(e.ctx, c.ID)
	if err != nil {
		e.t.Fatalf("CollectionStats: %v", err)
	}
	return st
}

// snapshot is everything observable about collections' datapoints.
type snapshot struct {
	dps   []store.Datapoint
	stats []store.CollectionStats
}

func (e *env) snapshot(cols ...store.Collection) snapshot {
	e.t.Helper()
	s := snapshot{dps: e.all(cols...)}
	for _, c := range cols {
		s.stats = append(s.stats, e.stats(c))
	}
	return s
}

func (e *env) requireUnchanged(before snapshot, cols ...store.Collection) {
	e.t.Helper()
	after := e.snapshot(cols...)
	if !equalDatapoints(before.dps, after.dps) {
		e.t.Errorf("datapoints changed by a failed call:\nbefore %s\nafter  %s", describe(before.dps), describe(after.dps))
	}
	for i := range before.stats {
		if !equalStats(before.stats[i], after.stats[i]) {
			e.t.Errorf("stats of %s changed by a failed call: %+v → %+v", cols[i].Name, before.stats[i], after.stats[i])
		}
	}
}

func equalDatapoint(a, b store.Datapoint) bool {
	return a.ID == b.ID && bytes.Equal(a.Data, b.Data) && a.IngestionTime.Equal(b.IngestionTime) && a.Collection == b.Collection
}

func equalDatapoints(a, b []store.Datapoint) bool {
	return slices.EqualFunc(a, b, equalDatapoint)
}

func equalStats(a, b store.CollectionStats) bool {
	return a.Count == b.Count && equalDatapoint(a.First, b.First) && equalDatapoint(a.Last, b.Last)
}

func describe(dps []store.Datapoint) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d datapoints:", len(dps))
	for i, dp := range dps {
		if i == 8 {
			b.WriteString(" …")
			break
		}
		fmt.Fprintf(&b, " %s", dp.ID)
	}
	return b.String()
}

func ids(dps []store.Datapoint) []store.ID {
	out := make([]store.ID, len(dps))
	for i, dp := range dps {
		out[i] = dp.ID
	}
	return out
}

func sortedByID(dps []store.Datapoint) []store.Datapoint {
	out := slices.Clone(dps)
	slices.SortStableFunc(out, func(a, b store.Datapoint) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

// series returns n datapoints 1 s apart starting at ms, tagged.
func series(ms int64, n int, tag string) []store.Datapoint {
	out := make([]store.Datapoint, n)
	for i := range out {
		out[i] = Datapoint(ms+int64(i)*1000, uint64(i), tag)
	}
	return out
}

func requireErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// --- datasets and groups ---

func testGroupID(t *testing.T, e *env) {
	a, err := e.st.GroupID(e.ctx, "group_a")
	if err != nil {
		t.Fatal(err)
	}
	if a == uuid.Nil || a.Version() != 4 {
		t.Errorf("GroupID: %s, want a random (v4) UUID", a)
	}
	again, err := e.st.GroupID(e.ctx, "group_a")
	if err != nil || again != a {
		t.Errorf("GroupID again: %s, %v; want %s", again, err, a)
	}
	b, err := e.st.GroupID(e.ctx, "group_b")
	if err != nil || b == a {
		t.Errorf("GroupID of another group: %s, %v; want a new ID", b, err)
	}
	d := e.createDataset("group_a", "in_a")
	got, err := e.st.Dataset(e.ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.GroupID != a || got.Group != "group_a" {
		t.Errorf("dataset group: %s %q, want %s group_a", got.GroupID, got.Group, a)
	}
}

func testDatasetCreateGet(t *testing.T, e *env) {
	for _, group := range []string{"my_org", ""} {
		d := e.createDataset(group, "measurements")
		want := *d
		got, err := e.st.Dataset(e.ctx, d.ID)
		if err != nil {
			t.Fatalf("Dataset(%s): %v", d.ID, err)
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("Dataset round trip (group %q):\n got %+v\nwant %+v", group, got, &want)
		}
		got, err = e.st.DatasetBySlug(e.ctx, d.Slug())
		if err != nil {
			t.Fatalf("DatasetBySlug(%s): %v", d.Slug(), err)
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("DatasetBySlug round trip:\n got %+v\nwant %+v", got, &want)
		}
	}
}

func testDatasetDuplicate(t *testing.T, e *env) {
	e.createDataset("my_org", "measurements")
	dup := e.dataset("my_org", "measurements")
	requireErr(t, e.st.CreateDataset(e.ctx, dup), store.ErrAlreadyExists, "CreateDataset with a taken slug")
	if _, err := e.st.Dataset(e.ctx, dup.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the failed dataset was stored: %v", err)
	}
	// The same code name in another group is another slug.
	e.createDataset("other_org", "measurements")
	all, err := e.st.Datasets(e.ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("Datasets: %d, %v; want 2", len(all), err)
	}
}

func testDatasetNotFound(t *testing.T, e *env) {
	_, err := e.st.Dataset(e.ctx, uuid.New())
	requireErr(t, err, store.ErrNotFound, "Dataset(unknown)")
	_, err = e.st.DatasetBySlug(e.ctx, "no_org.nothing")
	requireErr(t, err, store.ErrNotFound, "DatasetBySlug(unknown)")
	e.createDataset("my_org", "measurements")
	_, err = e.st.DatasetBySlug(e.ctx, "other.measurements")
	requireErr(t, err, store.ErrNotFound, "DatasetBySlug(other group)")
	_, err = e.st.DatasetBySlug(e.ctx, "measurements")
	requireErr(t, err, store.ErrNotFound, "DatasetBySlug(bare code name of a grouped dataset)")
}

func testDatasetList(t *testing.T, e *env) {
	all, err := e.st.Datasets(e.ctx)
	if err != nil || len(all) != 0 {
		t.Fatalf("Datasets of an empty store: %v, %v", all, err)
	}
	var want []*schema.Dataset
	for _, s := range [][2]string{{"b_org", "zeta"}, {"a_org", "beta"}, {"b_org", "alpha"}} {
		d := e.createDataset(s[0], s[1])
		want = append(want, d)
	}
	all, err = e.st.Datasets(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want = []*schema.Dataset{want[1], want[2], want[0]} // by slug
	if !reflect.DeepEqual(all, want) {
		t.Errorf("Datasets:\n got %v\nwant %v", slugs(all), slugs(want))
	}
}

func slugs(ds []*schema.Dataset) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Slug())
	}
	return out
}

func testDatasetUpdate(t *testing.T, e *env) {
	d := e.createDataset("my_org", "measurements")
	next := *d
	next.Name, next.Summary, next.Description = "Renamed", "new summary", ""
	if err := next.SetFields(append(d.CustomFields(), schema.Field{Name: "added", Type: schema.Timestamp, Example: "2024-01-01T00:00:00Z"})); err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpdateDataset(e.ctx, &next, false); err != nil {
		t.Fatalf("UpdateDataset: %v", err)
	}
	got, err := e.st.Dataset(e.ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &next) {
		t.Errorf("after update:\n got %+v\nwant %+v", got, &next)
	}

	// A new code name moves the slug.
	moved := next
	moved.CodeName = "renamed"
	if err := e.st.UpdateDataset(e.ctx, &moved, false); err != nil {
		t.Fatalf("UpdateDataset(code name): %v", err)
	}
	if _, err := e.st.DatasetBySlug(e.ctx, "my_org.measurements"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old slug still found: %v", err)
	}
	if got, err := e.st.DatasetBySlug(e.ctx, "my_org.renamed"); err != nil || got.ID != d.ID {
		t.Errorf("new slug: %v, %v", got, err)
	}

	// Taking another dataset's slug fails and changes nothing.
	other := e.createDataset("my_org", "other")
	clash := *other
	clash.CodeName = "renamed"
	requireErr(t, e.st.UpdateDataset(e.ctx, &clash, false), store.ErrAlreadyExists, "UpdateDataset to a taken slug")
	if got, err := e.st.Dataset(e.ctx, other.ID); err != nil || !reflect.DeepEqual(got, other) {
		t.Errorf("failed update changed the dataset: %+v, %v", got, err)
	}

	missing := e.dataset("my_org", "missing")
	requireErr(t, e.st.UpdateDataset(e.ctx, missing, false), store.ErrNotFound, "UpdateDataset(unknown)")
}

func testDatasetUpdateRequireEmpty(t *testing.T, e *env) {
	d := e.createDataset("my_org", "measurements")
	c1 := e.collection(d, "one")
	e.collection(d, "two")
	next := *d
	next.Name = "Empty collections"
	if err := e.st.UpdateDataset(e.ctx, &next, true); err != nil {
		t.Fatalf("UpdateDataset(requireEmpty) with empty collections: %v", err)
	}
	e.ingest(c1, series(0, 3, ""), false)
	again := next
	again.Name = "Has data"
	requireErr(t, e.st.UpdateDataset(e.ctx, &again, true), store.ErrNotEmpty, "UpdateDataset(requireEmpty) with data")
	if got, err := e.st.Dataset(e.ctx, d.ID); err != nil || got.Name != next.Name {
		t.Errorf("failed update changed the dataset: %+v, %v", got, err)
	}
	if err := e.st.UpdateDataset(e.ctx, &again, false); err != nil {
		t.Fatalf("UpdateDataset without requireEmpty: %v", err)
	}
	// Emptied again: allowed.
	if _, err := e.st.Delete(e.ctx, c1.ID, ids(series(0, 3, ""))); err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpdateDataset(e.ctx, &next, true); err != nil {
		t.Fatalf("UpdateDataset(requireEmpty) after deleting the data: %v", err)
	}
}

func testDatasetDelete(t *testing.T, e *env) {
	d := e.createDataset("my_org", "measurements")
	keep := e.createDataset("my_org", "keep")
	c1, c2 := e.collection(d, "one"), e.collection(d, "two")
	ck := e.collection(keep, "one")
	dps := series(0, 10, "")
	e.ingest(c1, dps, false)
	e.ingest(c2, dps, false)
	e.ingest(ck, dps, false)

	if err := e.st.DeleteDataset(e.ctx, d.ID); err != nil {
		t.Fatalf("DeleteDataset: %v", err)
	}
	_, err := e.st.Dataset(e.ctx, d.ID)
	requireErr(t, err, store.ErrNotFound, "Dataset after delete")
	_, err = e.st.DatasetBySlug(e.ctx, d.Slug())
	requireErr(t, err, store.ErrNotFound, "DatasetBySlug after delete")
	for _, c := range []store.Collection{c1, c2} {
		_, err = e.st.CollectionByID(e.ctx, c.ID)
		requireErr(t, err, store.ErrNotFound, "CollectionByID after dataset delete")
		_, err = e.st.Get(e.ctx, []uuid.UUID{c.ID}, dps[0].ID, false)
		requireErr(t, err, store.ErrNotFound, "Get after dataset delete")
	}
	if got := e.all(ck); len(got) != len(dps) {
		t.Errorf("another dataset lost data: %d datapoints, want %d", len(got), len(dps))
	}
	all, err := e.st.Datasets(e.ctx)
	if err != nil || len(all) != 1 || all[0].ID != keep.ID {
		t.Errorf("Datasets after delete: %v, %v", slugs(all), err)
	}
	requireErr(t, e.st.DeleteDataset(e.ctx, d.ID), store.ErrNotFound, "DeleteDataset again")

	// The slug and collection names are free again, and start empty.
	d2 := e.createDataset("my_org", "measurements")
	c := e.collection(d2, "one")
	if st := e.stats(c); st.Count != 0 {
		t.Errorf("recreated collection holds %d datapoints", st.Count)
	}
}

// --- collections ---

func testCollectionCreateGet(t *testing.T, e *env) {
	d := e.createDataset("my_org", "measurements")
	other := e.createDataset("my_org", "other")
	cols, err := e.st.Collections(e.ctx, d.ID)
	if err != nil || len(cols) != 0 {
		t.Fatalf("Collections of a new dataset: %v, %v", cols, err)
	}
	b := e.collection(d, "b")
	a := e.collection(d, "a")
	e.collection(other, "a")
	for _, c := range []store.Collection{a, b} {
		if c.ID == uuid.Nil || c.DatasetID != d.ID {
			t.Errorf("CreateCollection returned %+v", c)
		}
		got, err := e.st.Collection(e.ctx, d.ID, c.Name)
		if err != nil || got != c {
			t.Errorf("Collection(%q): %+v, %v; want %+v", c.Name, got, err, c)
		}
		got, err = e.st.CollectionByID(e.ctx, c.ID)
		if err != nil || got != c {
			t.Errorf("CollectionByID(%s): %+v, %v; want %+v", c.ID, got, err, c)
		}
	}
	cols, err = e.st.Collections(e.ctx, d.ID)
	if err != nil || !slices.Equal(cols, []store.Collection{a, b}) {
		t.Errorf("Collections: %+v, %v; want [a b]", cols, err)
	}
}

func testCollectionDuplicate(t *testing.T, e *env) {
	d := e.createDataset("my_org", "measurements")
	c := e.collection(d, "main")
	_, err := e.st.CreateCollection(e.ctx, d.ID, "main")
	requireErr(t, err, store.ErrAlreadyExists, "CreateCollection with a taken name")
	cols, err := e.st.Collections(e.ctx, d.ID)
	if err != nil || !slices.Equal(cols, []store.Collection{c}) {
		t.Errorf("Collections after a failed create: %+v, %v", cols, err)
	}
}

func testCollectionNotFound(t *testing.T, e *env) {
	_, err := e.st.CreateCollection(e.ctx, uuid.New(), "main")
	requireErr(t, err, store.ErrNotFound, "CreateCollection in an unknown dataset")
	d := e.createDataset("my_org", "measurements")
	_, err = e.st.Collection(e.ctx, d.ID, "nope")
	requireErr(t, err, store.ErrNotFound, "Collection(unknown name)")
	_, err = e.st.CollectionByID(e.ctx, uuid.New())
	requireErr(t, err, store.ErrNotFound, "CollectionByID(unknown)")
	_, err = e.st.CollectionStats(e.ctx, uuid.New())
	requireErr(t, err, store.ErrNotFound, "CollectionStats(unknown)")
	requireErr(t, e.st.DeleteCollection(e.ctx, uuid.New()), store.ErrNotFound, "DeleteCollection(unknown)")
	other := e.createDataset("my_org", "other")
	e.collection(other, "only_there")
	_, err = e.st.Collection(e.ctx, d.ID, "only_there")
	requireErr(t, err, store.ErrNotFound, "Collection(name of another dataset's collection)")
}

func testCollectionDelete(t *testing.T, e *env) {
	d := e.createDataset("my_org", "measurements")
	c, keep := e.collection(d, "gone"), e.collection(d, "keep")
	dps := series(0, 20, "")
	e.ingest(c, dps, false)
	e.ingest(keep, dps, false)
	if err := e.st.DeleteCollection(e.ctx, c.ID); err != nil {
		t.Fatalf("DeleteCollection: %v", err)
	}
	_, err := e.st.CollectionByID(e.ctx, c.ID)
	requireErr(t, err, store.ErrNotFound, "CollectionByID after delete")
	_, err = e.st.Collection(e.ctx, d.ID, "gone")
	requireErr(t, err, store.ErrNotFound, "Collection after delete")
	_, err = e.st.Get(e.ctx, []uuid.UUID{c.ID}, dps[0].ID, false)
	requireErr(t, err, store.ErrNotFound, "Get from a deleted collection")
	requireErr(t, e.st.DeleteCollection(e.ctx, c.ID), store.ErrNotFound, "DeleteCollection again")
	if got := e.all(keep); len(got) != len(dps) {
		t.Errorf("the other collection holds %d datapoints, want %d", len(got), len(dps))
	}
	// A new collection with the old name starts empty.
	again := e.collection(d, "gone")
	if got := e.all(again); len(got) != 0 {
		t.Errorf("recreated collection holds %d datapoints", len(got))
	}
	if st := e.stats(again); st.Count != 0 {
		t.Errorf("recreated collection count %d", st.Count)
	}
	// Its IDs can be ingested anew.
	if res := e.ingest(again, dps, false); res.Created != int64(len(dps)) {
		t.Errorf("ingest into recreated collection: created %d, want %d", res.Created, len(dps))
	}
}

// --- ingest ---

func testIngestCreated(t *testing.T, e *env) {
	c := e.newCollection()
	dps := series(0, 100, "")
	before := time.Now()
	res := e.ingest(c, dps, false)
	after := time.Now()
	if res.Created != 100 || res.NumExisting() != 0 {
		t.Errorf("Ingest: created %d, existing %d; want 100, 0", res.Created, res.NumExisting())
	}
	got := e.all(c)
	if len(got) != len(dps) {
		t.Fatalf("Query: %d datapoints, want %d", len(got), len(dps))
	}
	it := got[0].IngestionTime
	if it.Before(before.Add(-time.Millisecond)) || it.After(after.Add(time.Millisecond)) {
		t.Errorf("IngestionTime %v not within the call [%v, %v]", it, before, after)
	}
	for i, dp := range got {
		if dp.ID != dps[i].ID || !bytes.Equal(dp.Data, dps[i].Data) || dp.Collection != c.ID {
			t.Fatalf("datapoint %d: got %s %q in %s, want %s %q in %s", i, dp.ID, dp.Data, dp.Collection, dps[i].ID, dps[i].Data, c.ID)
		}
		if !dp.IngestionTime.Equal(it) {
			t.Errorf("datapoint %d: ingestion time %v differs from %v within one call", i, dp.IngestionTime, it)
		}
	}
}

func testIngestInputOrder(t *testing.T, e *env) {
	c := e.newCollection()
	dps := series(0, 200, "")
	// Store every third datapoint first.
	var first []store.Datapoint
	for i := 0; i < len(dps); i += 3 {
		first = append(first, dps[i])
	}
	e.ingest(c, first, false)
	shuffled := slices.Clone(dps)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	res := e.ingest(c, shuffled, true)
	if want := int64(len(dps) - len(first)); res.Created != want {
		t.Errorf("created %d, want %d", res.Created, want)
	}
	for i, dp := range shuffled {
		seq := binary.BigEndian.Uint64(dp.ID[8:])
		if want := seq%3 == 0; res.Existing[i] != want {
			t.Fatalf("Existing[%d] (%s) = %v, want %v", i, dp.ID, res.Existing[i], want)
		}
	}
	got := e.all(c)
	if !slices.Equal(ids(got), ids(dps)) {
		t.Errorf("query after shuffled ingest: %s, want %s", describe(got), describe(dps))
	}
}

func testIngestAllowExisting(t *testing.T, e *env) {
	c := e.newCollection()
	old := series(0, 10, "old")
	e.ingest(c, old, false)
	before := e.all(c)
	time.Sleep(2 * time.Millisecond) // a later call gets a later ingestion time

	// Half of the old IDs again with other data, plus new ones.
	var batch []store.Datapoint
	for i := 5; i < 10; i++ {
		batch = append(batch, Datapoint(int64(i)*1000, uint64(i), "new"))
	}
	batch = append(batch, series(10_000, 10, "new")...)
	res := e.ingest(c, batch, true)
	if res.Created != 10 || res.NumExisting() != 5 {
		t.Errorf("created %d, existing %d; want 10, 5", res.Created, res.NumExisting())
	}
	for i := range batch {
		if want := i < 5; res.Existing[i] != want {
			t.Errorf("Existing[%d] = %v, want %v", i, res.Existing[i], want)
		}
	}
	got := e.all(c)
	if len(got) != 20 {
		t.Fatalf("%d datapoints after ingest, want 20", len(got))
	}
	for i, dp := range got[:10] {
		if !equalDatapoint(dp, before[i]) {
			t.Errorf("existing datapoint %s changed: data %q ingested %v, was %q %v", dp.ID, dp.Data, dp.IngestionTime, before[i].Data, before[i].IngestionTime)
		}
	}
	for _, dp := range got[10:] {
		if !dp.IngestionTime.After(before[0].IngestionTime) {
			t.Errorf("new datapoint %s has ingestion time %v, not after the first call's %v", dp.ID, dp.IngestionTime, before[0].IngestionTime)
		}
	}
	// Everything existing: nothing created, no error.
	res = e.ingest(c, batch, true)
	if res.Created != 0 || res.NumExisting() != int64(len(batch)) {
		t.Errorf("re-ingest: created %d, existing %d; want 0, %d", res.Created, res.NumExisting(), len(batch))
	}
	if st := e.stats(c); st.Count != 20 {
		t.Errorf("count %d, want 20", st.Count)
	}
}

func testIngestExistingFails(t *testing.T, e *env) {
	d := e.createDataset("my_org", "measurements")
	c, other := e.collection(d, "main"), e.collection(d, "other")
	e.ingest(c, series(0, 10, ""), false)
	e.ingest(other, series(0, 3, ""), false)
	before := e.snapshot(c, other)

	// Mostly new IDs, two existing ones in the middle and at the end.
	batch := series(100_000, 50, "")
	batch = slices.Insert(batch, 20, Datapoint(4000, 4, "dup"))
	batch = append(batch, Datapoint(7000, 7, "dup"))
	_, err := e.st.Ingest(e.ctx, c.ID, batch, false)
	var ee *store.ExistsError
	if !errors.As(err, &ee) {
		t.Fatalf("Ingest with existing IDs: got %v, want *store.ExistsError", err)
	}
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("ExistsError does not wrap ErrAlreadyExists")
	}
	want := []store.ID{MakeID(baseMS+4000, 4), MakeID(baseMS+7000, 7)}
	if !slices.Equal(ee.IDs, want) {
		t.Errorf("ExistsError.IDs = %v, want %v", ee.IDs, want)
	}
	e.requireUnchanged(before, c, other)

	// IDs stored only in another collection do not count.
	res := e.ingest(other, series(0, 10, ""), true)
	if res.Created != 7 {
		t.Errorf("created %d in the other collection, want 7", res.Created)
	}
}

func testIngestRepeated(t *testing.T, e *env) {
	c := e.newCollection()
	dps := series(0, 5, "")
	batch := []store.Datapoint{dps[3], dps[0], dps[1], dps[3], dps[2], dps[0], dps[4]}
	before := e.snapshot(c)
	_, err := e.st.Ingest(e.ctx, c.ID, batch, false)
	var ee *store.ExistsError
	if !errors.As(err, &ee) {
		t.Fatalf("Ingest with an ID repeated in the call: got %v, want *store.ExistsError", err)
	}
	if want := []store.ID{dps[3].ID, dps[0].ID}; !slices.Equal(ee.IDs, want) {
		t.Errorf("ExistsError.IDs = %v, want %v", ee.IDs, want)
	}
	e.requireUnchanged(before, c)

	res := e.ingest(c, batch, true)
	if res.Created != 5 {
		t.Errorf("created %d, want 5", res.Created)
	}
	if want := []bool{false, false, false, true, false, true, false}; !slices.Equal(res.Existing, want) {
		t.Errorf("Existing = %v, want %v (later repeats are existing)", res.Existing, want)
	}
	if got := e.all(c); !slices.Equal(ids(got), ids(dps)) {
		t.Errorf("stored %s, want %s", describe(got), describe(dps))
	}
}

func testIngestSeparateCollections(t *testing.T, e *env) {
	d := e.createDataset("my_org", "measurements")
	a, b := e.collection(d, "a"), e.collection(d, "b")
	e.ingest(a, series(0, 5, "a"), false)
	res := e.ingest(b, series(0, 5, "b"), false)
	if res.Created != 5 {
		t.Errorf("same IDs in another collection: created %d, want 5", res.Created)
	}
	for _, c := range []store.Collection{a, b} {
		got := e.all(c)
		if len(got) != 5 || !bytes.HasSuffix(got[0].Data, []byte(c.Name)) {
			t.Errorf("collection %s: %s", c.Name, describe(got))
		}
	}
}

func testIngestEmptyUnknown(t *testing.T, e *env) {
	c := e.newCollection()
	res, err := e.st.Ingest(e.ctx, c.ID, nil, false)
	if err != nil || res.Created != 0 || len(res.Existing) != 0 {
		t.Errorf("Ingest(nothing): %+v, %v", res, err)
	}
	_, err = e.st.Ingest(e.ctx, uuid.New(), series(0, 3, ""), true)
	requireErr(t, err, store.ErrNotFound, "Ingest into an unknown collection")
	// Empty data is kept as empty.
	dp := store.Datapoint{ID: MakeID(baseMS, 99)}
	e.ingest(c, []store.Datapoint{dp}, false)
	got, err := e.st.Get(e.ctx, []uuid.UUID{c.ID}, dp.ID, false)
	if err != nil || len(got.Data) != 0 {
		t.Errorf("Get of a datapoint without data: %q, %v", got.Data, err)
	}
}

// --- delete ---

func testDelete(t *testing.T, e *env) {
	c := e.newCollection()
	dps := series(0, 10, "")
	e.ingest(c, dps, false)
	n, err := e.st.Delete(e.ctx, c.ID, []store.ID{dps[7].ID, dps[2].ID, dps[7].ID})
	if err != nil || n != 2 {
		t.Fatalf("Delete: %d, %v; want 2 (a repeated ID counts once)", n, err)
	}
	want := slices.Concat(dps[:2], dps[3:7], dps[8:])
	if got := e.all(c); !slices.Equal(ids(got), ids(want)) {
		t.Errorf("after delete: %s, want %s", describe(got), describe(want))
	}
	if st := e.stats(c); st.Count != 8 {
		t.Errorf("count after delete %d, want 8", st.Count)
	}
	n, err = e.st.Delete(e.ctx, c.ID, nil)
	if err != nil || n != 0 {
		t.Errorf("Delete(nothing): %d, %v", n, err)
	}
	_, err = e.st.Delete(e.ctx, uuid.New(), ids(dps[:1]))
	requireErr(t, err, store.ErrNotFound, "Delete from an unknown collection")
	// Deleted IDs can be ingested again.
	if res := e.ingest(c, dps, true); res.Created != 2 {
		t.Errorf("re-ingest after delete: created %d, want 2", res.Created)
	}
}

func testDeleteAllOrNothing(t *testing.T, e *env) {
	d := e.createDataset("my_org", "measurements")
	c, other := e.collection(d, "main"), e.collection(d, "other")
	dps := series(0, 10, "")
	e.ingest(c, dps, false)
	e.ingest(other, series(50_000, 3, ""), false)
	before := e.snapshot(c, other)

	inOther := MakeID(baseMS+50_000, 0)
	unknown := MakeID(baseMS+1, 1)
	_, err := e.st.Delete(e.ctx, c.ID, []store.ID{dps[1].ID, unknown, dps[5].ID, inOther})
	var me *store.MissingError
	if !errors.As(err, &me) {
		t.Fatalf("Delete with missing IDs: got %v, want *store.MissingError", err)
	}
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MissingError does not wrap ErrNotFound")
	}
	if want := []store.ID{unknown, inOther}; !slices.Equal(me.IDs, want) {
		t.Errorf("MissingError.IDs = %v, want %v", me.IDs, want)
	}
	e.requireUnchanged(before, c, other)
}

// --- query and get ---

func (e *env) query(q store.Query) []store.Datapoint {
	e.t.Helper()
	got, err := e.st.Query(e.ctx, q)
	if err != nil {
		e.t.Fatalf("Query(%+v): %v", q, err)
	}
	return got
}

func testQueryRanges(t *testing.T, e *env) {
	c := e.newCollection()
	dps := series(0, 20, "") // at 0 s, 1 s, … 19 s
	// Two more datapoints in the same millisecond as dps[5].
	extra := []store.Datapoint{Datapoint(5000, 100, ""), Datapoint(5000, 101, "")}
	e.ingest(c, append(slices.Clone(dps), extra...), false)
	all := sortedByID(append(slices.Clone(dps), extra...))
	cols := []uuid.UUID{c.ID}

	idx := func(dp store.Datapoint) int {
		return slices.IndexFunc(all, func(x store.Datapoint) bool { return x.ID == dp.ID })
	}
	for _, tc := range []struct {
		name     string
		from, to store.ID
		want     []store.Datapoint
	}{
		{"everything", MinID, MaxID, all},
		{"inclusive ID bounds", dps[3].ID, dps[8].ID, all[idx(dps[3]) : idx(dps[8])+1]},
		{"one ID", dps[4].ID, dps[4].ID, dps[4:5]},
		{"a millisecond", MakeID(baseMS+5000, 0), MakeID(baseMS+5000, 1<<63), all[idx(dps[5]) : idx(dps[5])+3]},
		{"time interval", MakeID(baseMS+10_000, 0), MakeID(baseMS+12_999, 1<<63), dps[10:13]},
		{"between datapoints", MakeID(baseMS+10_001, 0), MakeID(baseMS+10_999, 1<<63), nil},
		{"before all", MinID, MakeID(baseMS-1, 0), nil},
		{"after all", MakeID(baseMS+20_000, 0), MaxID, nil},
		{"reversed", dps[8].ID, dps[3].ID, nil},
	} {
		got := e.query(store.Query{Collections: cols, From: tc.from, To: tc.to})
		if !slices.Equal(ids(got), ids(tc.want)) {
			t.Errorf("%s: got %s, want %s", tc.name, describe(got), describe(tc.want))
		}
		for i := range got {
			if !bytes.Equal(got[i].Data, tc.want[i].Data) || got[i].Collection != c.ID || got[i].IngestionTime.IsZero() {
				t.Errorf("%s: datapoint %s: data %q collection %s ingested %v", tc.name, got[i].ID, got[i].Data, got[i].Collection, got[i].IngestionTime)
				break
			}
		}
	}
}

func testQueryLimit(t *testing.T, e *env) {
	c := e.newCollection()
	dps := series(0, 30, "")
	e.ingest(c, dps, false)
	cols := []uuid.UUID{c.ID}
	for _, tc := range []struct {
		limit int
		want  []store.Datapoint
	}{
		{1, dps[:1]}, {7, dps[:7]}, {30, dps}, {100, dps}, {0, dps}, {-1, dps},
	} {
		got := e.query(store.Query{Collections: cols, From: MinID, To: MaxID, Limit: tc.limit})
		if !slices.Equal(ids(got), ids(tc.want)) {
			t.Errorf("Limit %d: got %s, want %s", tc.limit, describe(got), describe(tc.want))
		}
	}
	// Paging with the last ID as cursor visits everything once.
	var seen []store.Datapoint
	from := MinID
	for {
		page := e.query(store.Query{Collections: cols, From: from, To: MaxID, Limit: 4})
		seen = append(seen, page...)
		if len(page) < 4 {
			break
		}
		from = page[len(page)-1].ID
		from[15]++ // the cursors here never overflow
	}
	if !slices.Equal(ids(seen), ids(dps)) {
		t.Errorf("paged: %s, want %s", describe(seen), describe(dps))
	}
}

func testQueryMerge(t *testing.T, e *env) {
	d := e.createDataset("my_org", "measurements")
	a, b, c := e.collection(d, "a"), e.collection(d, "b"), e.collection(d, "c")
	var da, db []store.Datapoint
	for i := range 20 {
		dp := Datapoint(int64(i)*1000, uint64(i), "")
		if i%3 == 0 {
			db = append(db, dp)
		} else {
			da = append(da, dp)
		}
	}
	shared := Datapoint(7500, 1, "shared")
	da = append(da, shared)
	db = append(db, shared)
	e.ingest(a, da, false)
	e.ingest(b, db, false)
	e.ingest(c, series(0, 20, "c"), false) // not queried

	got := e.query(store.Query{Collections: []uuid.UUID{a.ID, b.ID}, From: MinID, To: MaxID})
	if len(got) != len(da)+len(db) {
		t.Fatalf("merged query: %d datapoints, want %d", len(got), len(da)+len(db))
	}
	if !slices.IsSortedFunc(got, func(x, y store.Datapoint) int { return bytes.Compare(x.ID[:], y.ID[:]) }) {
		t.Errorf("merged query not in ID order: %s", describe(got))
	}
	for _, dp := range got {
		var from []store.Datapoint
		switch dp.Collection {
		case a.ID:
			from = da
		case b.ID:
			from = db
		default:
			t.Fatalf("datapoint %s from collection %s", dp.ID, dp.Collection)
		}
		if !slices.ContainsFunc(from, func(x store.Datapoint) bool { return x.ID == dp.ID }) {
			t.Errorf("datapoint %s reported from the wrong collection", dp.ID)
		}
	}
	// A limit applies to the merged result.
	lim := e.query(store.Query{Collections: []uuid.UUID{b.ID, a.ID}, From: MinID, To: MaxID, Limit: 5})
	if !slices.Equal(ids(lim), ids(got[:5])) {
		t.Errorf("merged query with limit: %s, want %s", describe(lim), describe(got[:5]))
	}
	// A collection named twice counts once.
	twice := e.query(store.Query{Collections: []uuid.UUID{a.ID, a.ID}, From: MinID, To: MaxID})
	if len(twice) != len(da) {
		t.Errorf("collection listed twice: %d datapoints, want %d", len(twice), len(da))
	}
}

func testQueryEmpty(t *testing.T, e *env) {
	c := e.newCollection()
	got, err := e.st.Query(e.ctx, store.Query{Collections: []uuid.UUID{c.ID}, From: MinID, To: MaxID})
	if err != nil || len(got) != 0 {
		t.Errorf("Query of an empty collection: %v, %v; want no datapoints and no error", got, err)
	}
	got, err = e.st.Query(e.ctx, store.Query{From: MinID, To: MaxID})
	if err != nil || len(got) != 0 {
		t.Errorf("Query of no collections: %v, %v", got, err)
	}
	_, err = e.st.Query(e.ctx, store.Query{Collections: []uuid.UUID{c.ID, uuid.New()}, From: MinID, To: MaxID})
	requireErr(t, err, store.ErrNotFound, "Query of an unknown collection")
}

func testQuerySkipData(t *testing.T, e *env) {
	c := e.newCollection()
	dps := series(0, 5, "")
	e.ingest(c, dps, false)
	full := e.all(c)
	got := e.query(store.Query{Collections: []uuid.UUID{c.ID}, From: MinID, To: MaxID, SkipData: true})
	if len(got) != len(dps) {
		t.Fatalf("SkipData: %d datapoints, want %d", len(got), len(dps))
	}
	for i, dp := range got {
		if dp.ID != full[i].ID || !dp.IngestionTime.Equal(full[i].IngestionTime) || dp.Collection != c.ID {
			t.Errorf("SkipData datapoint %d: %+v, want %+v", i, dp, full[i])
		}
		// Data may be cut, but keeps at least the leading time field.
		if !bytes.HasPrefix(full[i].Data, dp.Data) || len(dp.Data) < 2+int(full[i].Data[1]) {
			t.Errorf("SkipData datapoint %d: data %x is not a prefix of %x holding field 1", i, dp.Data, full[i].Data)
		}
	}
	one, err := e.st.Get(e.ctx, []uuid.UUID{c.ID}, dps[2].ID, true)
	if err != nil || one.ID != dps[2].ID || !bytes.HasPrefix(dps[2].Data, one.Data) || len(one.Data) < 2+int(dps[2].Data[1]) {
		t.Errorf("Get with skipData: %+v, %v", one, err)
	}
}

func testGet(t *testing.T, e *env) {
	d := e.createDataset("my_org", "measurements")
	a, b := e.collection(d, "a"), e.collection(d, "b")
	onlyA, onlyB := Datapoint(1000, 1, "a"), Datapoint(2000, 2, "b")
	bothA, bothB := Datapoint(3000, 3, "a"), Datapoint(3000, 3, "b")
	e.ingest(a, []store.Datapoint{onlyA, bothA}, false)
	e.ingest(b, []store.Datapoint{onlyB, bothB}, false)
	stored := e.all(a, b)

	for _, tc := range []struct {
		name string
		cols []store.Collection
		id   store.ID
		want store.Datapoint
		from store.Collection
	}{
		{"in the only collection", []store.Collection{a}, onlyA.ID, onlyA, a},
		{"in the second collection", []store.Collection{a, b}, onlyB.ID, onlyB, b},
		{"in both: the first listed wins", []store.Collection{b, a}, bothA.ID, bothB, b},
		{"in both, other order", []store.Collection{a, b}, bothA.ID, bothA, a},
	} {
		got, err := e.st.Get(e.ctx, collectionIDs(tc.cols), tc.id, false)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.ID != tc.id || !bytes.Equal(got.Data, tc.want.Data) || got.Collection != tc.from.ID {
			t.Errorf("%s: got %s %q from %s, want %q from %s", tc.name, got.ID, got.Data, got.Collection, tc.want.Data, tc.from.ID)
		}
		i := slices.IndexFunc(stored, func(dp store.Datapoint) bool { return dp.ID == got.ID && dp.Collection == got.Collection })
		if i < 0 || !stored[i].IngestionTime.Equal(got.IngestionTime) {
			t.Errorf("%s: ingestion time %v differs from the query's", tc.name, got.IngestionTime)
		}
	}
	_, err := e.st.Get(e.ctx, []uuid.UUID{a.ID}, onlyB.ID, false)
	requireErr(t, err, store.ErrNotFound, "Get of an ID stored only in another collection")
	_, err = e.st.Get(e.ctx, []uuid.UUID{a.ID, b.ID}, MakeID(baseMS+1000, 2), false)
	requireErr(t, err, store.ErrNotFound, "Get of an unknown ID")
	_, err = e.st.Get(e.ctx, []uuid.UUID{uuid.New()}, onlyA.ID, false)
	requireErr(t, err, store.ErrNotFound, "Get from an unknown collection")
	_, err = e.st.Get(e.ctx, nil, onlyA.ID, false)
	requireErr(t, err, store.ErrNotFound, "Get from no collection")
}

func collectionIDs(cs []store.Collection) []uuid.UUID {
	out := make([]uuid.UUID, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func testStats(t *testing.T, e *env) {
	d := e.createDataset("my_org", "measurements")
	c, other := e.collection(d, "main"), e.collection(d, "other")
	if st := e.stats(c); !equalStats(st, store.CollectionStats{}) {
		t.Errorf("stats of an empty collection: %+v, want zero", st)
	}
	dps := series(0, 50, "")
	shuffled := slices.Clone(dps)
	rand.New(rand.NewPCG(7, 8)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	e.ingest(c, shuffled[:30], false)
	e.ingest(c, shuffled, true)
	e.ingest(other, series(-100_000, 5, ""), false) // earlier, elsewhere
	all := e.all(c)
	st := e.stats(c)
	if st.Count != 50 {
		t.Errorf("Count %d, want 50", st.Count)
	}
	if !equalDatapoint(st.First, all[0]) || !equalDatapoint(st.Last, all[len(all)-1]) {
		t.Errorf("First/Last: %s … %s, want %s … %s", st.First.ID, st.Last.ID, all[0].ID, all[len(all)-1].ID)
	}
	if _, err := e.st.Delete(e.ctx, c.ID, []store.ID{dps[0].ID, dps[49].ID}); err != nil {
		t.Fatal(err)
	}
	st = e.stats(c)
	if st.Count != 48 || st.First.ID != dps[1].ID || st.Last.ID != dps[48].ID {
		t.Errorf("after deleting the ends: count %d, %s … %s; want 48, %s … %s", st.Count, st.First.ID, st.Last.ID, dps[1].ID, dps[48].ID)
	}
	if _, err := e.st.Delete(e.ctx, c.ID, ids(dps[1:49])); err != nil {
		t.Fatal(err)
	}
	if st := e.stats(c); !equalStats(st, store.CollectionStats{}) {
		t.Errorf("stats after deleting everything: %+v, want zero", st)
	}
}
