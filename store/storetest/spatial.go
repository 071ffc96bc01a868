package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/store"
)

// Box is the lon/lat box [west, east] × [south, north].
func Box(west, south, east, north float64) orb.Bound {
	return orb.Bound{Min: orb.Point{west, south}, Max: orb.Point{east, north}}
}

// World is the box of every lon/lat.
var World = Box(-180, -90, 180, 90)

// SpatialDatapoint is Datapoint with Bounds.
func SpatialDatapoint(ms int64, seq uint64, tag string, bounds ...orb.Bound) store.Datapoint {
	dp := Datapoint(ms, seq, tag)
	dp.Bounds = bounds
	return dp
}

func boxesIntersect(a, b orb.Bound) bool {
	return a.Min[0] <= b.Max[0] && b.Min[0] <= a.Max[0] && a.Min[1] <= b.Max[1] && b.Min[1] <= a.Max[1]
}

// spatialMatch is the brute-force prefilter test.
func spatialMatch(bounds, boxes []orb.Bound) bool {
	for _, a := range bounds {
		for _, b := range boxes {
			if boxesIntersect(a, b) {
				return true
			}
		}
	}
	return false
}

// spatialQuery runs a Query with boxes over the whole ID range.
func (e *env) spatialQuery(cols []store.Collection, limit int, boxes ...orb.Bound) []store.Datapoint {
	e.t.Helper()
	return e.query(store.Query{Collections: collectionIDs(cols), From: MinID, To: MaxID, Limit: limit, Boxes: boxes})
}

// requireSpatial checks a spatial query's result against the datapoints
// expected, by ID and collection, in order.
func requireSpatial(t *testing.T, what string, got []store.Datapoint, want []store.Datapoint) {
	t.Helper()
	if !slices.Equal(ids(got), ids(want)) {
		t.Errorf("%s: got %s, want %s", what, describe(got), describe(want))
		return
	}
	for i := range got {
		if want[i].Collection != uuid.Nil && got[i].Collection != want[i].Collection {
			t.Errorf("%s: datapoint %s from collection %s, want %s", what, got[i].ID, got[i].Collection, want[i].Collection)
		}
		if want[i].Data != nil && !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("%s: datapoint %s: data %q, want %q", what, got[i].ID, got[i].Data, want[i].Data)
		}
		if got[i].IngestionTime.IsZero() {
			t.Errorf("%s: datapoint %s has no ingestion time", what, got[i].ID)
		}
	}
}

func testSpatialPrefilter(t *testing.T, e *env) {
	c := e.newCollection()
	var (
		a     = SpatialDatapoint(0, 1, "box", Box(10, 40, 20, 50))
		split = SpatialDatapoint(1000, 2, "split", Box(170, -10, 180, 10), Box(-180, -10, -170, 10))
		none  = Datapoint(2000, 3, "no geometry")
		point = SpatialDatapoint(3000, 4, "point", Box(13.5, 52.5, 13.5, 52.5))
		south = SpatialDatapoint(4000, 5, "south", Box(-20, -60, -10, -50))
		polar = SpatialDatapoint(5000, 6, "polar cap", Box(-180, 80, 180, 90))
		same  = SpatialDatapoint(5000, 7, "same ms as the cap", Box(-1, -1, 1, 1))
	)
	all := []store.Datapoint{a, split, none, point, south, polar, same}
	// Shuffled input: the index must not depend on ingest order.
	e.ingest(c, []store.Datapoint{polar, none, split, same, a, south, point}, false)
	cols := []store.Collection{c}
	dp := func(dps ...store.Datapoint) []store.Datapoint { return dps }
	bx := func(boxes ...orb.Bound) []orb.Bound { return boxes }
	for _, tc := range []struct {
		name  string
		boxes []orb.Bound
		want  []store.Datapoint
	}{
		{"inside a box", bx(Box(15, 45, 16, 46)), dp(a)},
		{"covering a box", bx(Box(0, 30, 30, 60)), dp(a, point)},
		{"corner touching", bx(Box(20, 50, 30, 60)), dp(a)},
		{"near but apart", bx(Box(-30, -50, -25, -40), Box(-10, -70, 0, -65)), nil},
		{"edge touching, overlapping in the other axis", bx(Box(-25, -55, -20, -52)), dp(south)},
		{"east half of a split datapoint", bx(Box(175, -5, 179, 5)), dp(split)},
		{"west half of a split datapoint", bx(Box(-179, -5, -175, 5)), dp(split)},
		{"query split at the antimeridian hits both halves once", bx(Box(175, -5, 180, 5), Box(-180, -5, -175, 5)), dp(split)},
		{"query box on the antimeridian", bx(Box(180, 0, 180, 0)), dp(split)},
		{"near the north pole", bx(Box(100, 85, 101, 86)), dp(polar)},
		{"at the pole", bx(Box(-180, 90, 180, 90)), dp(polar)},
		{"a point datapoint", bx(Box(13, 52, 14, 53)), dp(point)},
		{"a point query on a point", bx(Box(13.5, 52.5, 13.5, 52.5)), dp(point)},
		{"nothing there", bx(Box(100, 0, 110, 10)), nil},
		{"the world: all but the one without geometry", bx(World), dp(a, split, point, south, polar, same)},
		{"several boxes, each match once", bx(World, Box(10, 40, 20, 50), Box(-1, -1, 1, 1)), dp(a, split, point, south, polar, same)},
	} {
		got := e.spatialQuery(cols, 0, tc.boxes...)
		want := make([]store.Datapoint, len(tc.want))
		for i, w := range tc.want {
			want[i] = store.Datapoint{ID: w.ID, Data: w.Data, Collection: c.ID}
		}
		requireSpatial(t, tc.name, got, sortedByID(want))
	}
	// The ID range, limit and order of a plain query hold.
	world := []orb.Bound{World}
	got := e.query(store.Query{Collections: []uuid.UUID{c.ID}, From: split.ID, To: point.ID, Boxes: world})
	requireSpatial(t, "ID range", got, []store.Datapoint{split, point})
	got = e.query(store.Query{Collections: []uuid.UUID{c.ID}, From: MakeID(baseMS+1000, 3), To: MaxID, Limit: 2, Boxes: world})
	requireSpatial(t, "ID range after a datapoint, limit", got, []store.Datapoint{point, south})
	got = e.query(store.Query{Collections: []uuid.UUID{c.ID}, From: MinID, To: MaxID, Limit: 3, Boxes: world})
	requireSpatial(t, "limit", got, []store.Datapoint{a, split, point})
	got = e.query(store.Query{Collections: []uuid.UUID{c.ID}, From: polar.ID, To: polar.ID, Boxes: world})
	requireSpatial(t, "one ID", got, []store.Datapoint{polar})
	got = e.query(store.Query{Collections: []uuid.UUID{c.ID}, From: none.ID, To: none.ID, Boxes: world})
	requireSpatial(t, "one ID without geometry", got, nil)
	// Without Boxes every datapoint is there, as before.
	if got := e.all(c); !slices.Equal(ids(got), ids(sortedByID(all))) {
		t.Errorf("plain query: %s, want %s", describe(got), describe(sortedByID(all)))
	}
}

// randomBox returns a box on a 0.5° grid (exact in 32-bit floats).
func randomBox(r *rand.Rand, maxSize int) orb.Bound {
	w := -180 + 0.5*float64(r.IntN(720))
	s := -90 + 0.5*float64(r.IntN(360))
	e := min(180, w+0.5*float64(r.IntN(2*maxSize+1)))
	n := min(90, s+0.5*float64(r.IntN(2*maxSize+1)))
	return Box(w, s, e, n)
}

// randomBounds returns nothing (no geometry), one box, or two boxes that
// meet at the antimeridian.
func randomBounds(r *rand.Rand, maxSize int) []orb.Bound {
	switch k := r.IntN(10); {
	case k == 0:
		return nil
	case k < 3:
		s := -90 + 0.5*float64(r.IntN(300))
		n := min(90, s+0.5*float64(r.IntN(2*maxSize+1)))
		return []orb.Bound{Box(180-0.5*float64(1+r.IntN(2*maxSize)), s, 180, n), Box(-180, s, -180+0.5*float64(1+r.IntN(2*maxSize)), n)}
	}
	return []orb.Bound{randomBox(r, maxSize)}
}

func testSpatialRandomized(t *testing.T, e *env) {
	r := rand.New(rand.NewPCG(11, 12))
	d := e.createDataset("my_org", "footprints")
	cols := []store.Collection{e.collection(d, "a"), e.collection(d, "b")}
	stored := map[uuid.UUID][]store.Datapoint{}
	for ci, c := range cols {
		dps := make([]store.Datapoint, 700)
		for i := range dps {
			// Ten days, a few datapoints sharing a millisecond.
			ms := r.Int64N(10 * 86_400_000)
			if i > 0 && r.IntN(20) == 0 {
				ms = int64(idMS(dps[i-1].ID)) - baseMS
			}
			dps[i] = SpatialDatapoint(ms, uint64(ci)<<32|uint64(i), c.Name, randomBounds(r, 30)...)
			dps[i].Collection = c.ID
		}
		for lo := 0; lo < len(dps); lo += 250 {
			e.ingest(c, dps[lo:min(lo+250, len(dps))], false)
		}
		stored[c.ID] = dps
	}
	// An instant some datapoints share, to start ranges at.
	instants := []int64{0, int64(idMS(stored[cols[0].ID][5].ID)), int64(idMS(stored[cols[1].ID][9].ID))}
	for q := range 300 {
		var qc []store.Collection
		switch r.IntN(3) {
		case 0:
			qc = cols[:1]
		case 1:
			qc = cols[1:]
		default:
			qc = []store.Collection{cols[1], cols[0]}
		}
		var boxes []orb.Bound
		switch r.IntN(6) {
		case 0:
			boxes = []orb.Bound{World}
		case 1: // a query that crosses the antimeridian
			boxes = randomBounds(r, 60)
			if len(boxes) == 0 {
				boxes = []orb.Bound{randomBox(r, 5)}
			}
		default:
			for range 1 + r.IntN(2) {
				boxes = append(boxes, randomBox(r, 1+r.IntN(60)))
			}
		}
		from, to := MinID, MaxID
		if r.IntN(2) == 0 {
			a := instants[r.IntN(len(instants))]
			if a == 0 {
				a = baseMS + r.Int64N(10*86_400_000)
			}
			b := a + r.Int64N(5*86_400_000)
			from, to = MakeID(a, r.Uint64N(1<<33)), MakeID(b, r.Uint64N(1<<33))
		}
		limit := []int{0, 1, 7, 50, 100_000}[r.IntN(5)]

		var want []store.Datapoint
		for _, c := range qc {
			for _, dp := range stored[c.ID] {
				if bytes.Compare(dp.ID[:], from[:]) >= 0 && bytes.Compare(dp.ID[:], to[:]) <= 0 && spatialMatch(dp.Bounds, boxes) {
					want = append(want, dp)
				}
			}
		}
		want = sortedByID(want)
		if limit > 0 && len(want) > limit {
			want = want[:limit]
		}
		got := e.query(store.Query{Collections: collectionIDs(qc), From: from, To: to, Limit: limit, Boxes: boxes})
		requireSpatial(t, fmt.Sprintf("query %d (boxes %v, limit %d)", q, boxes, limit), got, want)
		if t.Failed() {
			return
		}
	}
}

// idMS is the unix ms an ID starts with.
func idMS(id store.ID) uint64 {
	var ms uint64
	for _, b := range id[:6] {
		ms = ms<<8 | uint64(b)
	}
	return ms
}

func testSpatialPaging(t *testing.T, e *env) {
	c := e.newCollection()
	var dps, want []store.Datapoint
	for i := range 120 {
		dp := SpatialDatapoint(int64(i/3)*1000, uint64(i), "", Box(float64(i%4), 0, float64(i%4), 1))
		if i%4 == 3 {
			dp.Bounds = append(dp.Bounds, Box(50, 50, 51, 51)) // a second box that matches too
		}
		if i%5 == 0 {
			dp.Bounds = nil
		}
		dps = append(dps, dp)
		if spatialMatch(dp.Bounds, []orb.Bound{Box(1, 0, 2, 1), Box(50, 50, 60, 60)}) {
			want = append(want, dp)
		}
	}
	e.ingest(c, dps, false)
	want = sortedByID(want)
	var seen []store.Datapoint
	from := MinID
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		page := e.query(store.Query{Collections: []uuid.UUID{c.ID}, From: from, To: MaxID, Limit: 7, Boxes: []orb.Bound{Box(1, 0, 2, 1), Box(50, 50, 60, 60)}})
		seen = append(seen, page...)
		if len(page) < 7 {
			break
		}
		from = page[len(page)-1].ID
		from[15]++
	}
	requireSpatial(t, "paged", seen, want)
}

func testSpatialEmpty(t *testing.T, e *env) {
	c := e.newCollection()
	world := []orb.Bound{World}
	got, err := e.st.Query(e.ctx, store.Query{Collections: []uuid.UUID{c.ID}, From: MinID, To: MaxID, Boxes: world})
	if err != nil || len(got) != 0 {
		t.Errorf("spatial query of an empty collection: %v, %v", got, err)
	}
	e.ingest(c, []store.Datapoint{SpatialDatapoint(0, 1, "", World)}, false)
	got, err = e.st.Query(e.ctx, store.Query{From: MinID, To: MaxID, Boxes: world})
	if err != nil || len(got) != 0 {
		t.Errorf("spatial query of no collections: %v, %v", got, err)
	}
	got, err = e.st.Query(e.ctx, store.Query{Collections: []uuid.UUID{c.ID}, From: MaxID, To: MinID, Boxes: world})
	if err != nil || len(got) != 0 {
		t.Errorf("spatial query with From > To: %v, %v", got, err)
	}
	_, err = e.st.Query(e.ctx, store.Query{Collections: []uuid.UUID{c.ID, uuid.New()}, From: MinID, To: MaxID, Boxes: world})
	requireErr(t, err, store.ErrNotFound, "spatial query of an unknown collection")
	_, err = e.st.Query(e.ctx, store.Query{Collections: []uuid.UUID{c.ID, uuid.New()}, From: MaxID, To: MinID, Boxes: world})
	requireErr(t, err, store.ErrNotFound, "spatial query of an unknown collection with From > To")
}

func testSpatialDelete(t *testing.T, e *env) {
	c := e.newCollection()
	var dps []store.Datapoint
	for i := range 10 {
		dps = append(dps, SpatialDatapoint(int64(i)*1000, uint64(i), "", Box(170, -5, 180, 5), Box(-180, -5, -175+float64(i), 5)))
	}
	e.ingest(c, dps, false)
	cols := []store.Collection{c}
	gone := []store.ID{dps[2].ID, dps[5].ID, dps[9].ID}
	if n, err := e.st.Delete(e.ctx, c.ID, gone); err != nil || n != 3 {
		t.Fatalf("Delete: %d, %v", n, err)
	}
	left := slices.Concat(dps[:2], dps[3:5], dps[6:9])
	requireSpatial(t, "after delete", e.spatialQuery(cols, 0, World), left)
	requireSpatial(t, "after delete, east half", e.spatialQuery(cols, 0, Box(175, 0, 176, 1)), left)

	// A failed delete keeps the boxes.
	if _, err := e.st.Delete(e.ctx, c.ID, []store.ID{dps[0].ID, dps[2].ID}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Delete of a deleted ID: %v", err)
	}
	requireSpatial(t, "after a failed delete", e.spatialQuery(cols, 0, World), left)

	// The same IDs again without geometry: no box of the old ones is left
	// to find them.
	again := make([]store.Datapoint, len(gone))
	for i, j := range []int{2, 5, 9} {
		again[i] = dps[j]
		again[i].Bounds = nil
	}
	if res := e.ingest(c, again, false); res.Created != 3 {
		t.Fatalf("re-ingest: created %d", res.Created)
	}
	requireSpatial(t, "after re-ingest without geometry", e.spatialQuery(cols, 0, World), left)
	// And deleted again, then with geometry: found once.
	if _, err := e.st.Delete(e.ctx, c.ID, gone); err != nil {
		t.Fatal(err)
	}
	e.ingest(c, []store.Datapoint{dps[5]}, false)
	requireSpatial(t, "after re-ingest with geometry", e.spatialQuery(cols, 0, World, Box(-180, -90, -170, 90)),
		slices.Concat(dps[:2], dps[3:5], dps[5:6], dps[6:9]))
}

func testSpatialDeleteCollection(t *testing.T, e *env) {
	d := e.createDataset("my_org", "footprints")
	keepDS := e.createDataset("my_org", "keep")
	c1, c2 := e.collection(d, "one"), e.collection(d, "two")
	k := e.collection(keepDS, "one")
	var dps []store.Datapoint
	for i := range 20 {
		dps = append(dps, SpatialDatapoint(int64(i)*1000, uint64(i), "", Box(float64(i), 0, float64(i)+1, 1)))
	}
	for _, c := range []store.Collection{c1, c2, k} {
		e.ingest(c, dps, false)
	}
	plain := func(dps []store.Datapoint) []store.Datapoint {
		out := slices.Clone(dps)
		for i := range out {
			out[i].Bounds = nil
		}
		return out
	}
	if err := e.st.DeleteCollection(e.ctx, c1.ID); err != nil {
		t.Fatal(err)
	}
	again := e.collection(d, "one")
	e.ingest(again, plain(dps), false)
	requireSpatial(t, "recreated collection, no geometry", e.spatialQuery([]store.Collection{again}, 0, World), nil)
	requireSpatial(t, "the other collection", e.spatialQuery([]store.Collection{c2}, 0, World), dps)

	if err := e.st.DeleteDataset(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	d2 := e.createDataset("my_org", "footprints")
	c3 := e.collection(d2, "two")
	e.ingest(c3, plain(dps), false)
	requireSpatial(t, "recreated dataset, no geometry", e.spatialQuery([]store.Collection{c3}, 0, World), nil)
	requireSpatial(t, "another dataset", e.spatialQuery([]store.Collection{k}, 0, Box(5, 0, 5.5, 1)), dps[4:6])
}

func testSpatialAllowExisting(t *testing.T, e *env) {
	c := e.newCollection()
	var dps []store.Datapoint
	for i := range 20 {
		dps = append(dps, SpatialDatapoint(int64(i)*1000, uint64(i), "", Box(175, 0, 180, 1), Box(-180, 0, -175, 1)))
	}
	e.ingest(c, dps[:10], false)
	// All again, some twice in the call.
	batch := slices.Concat(dps, dps[3:6], dps[15:17])
	res := e.ingest(c, batch, true)
	if res.Created != 10 {
		t.Fatalf("created %d, want 10", res.Created)
	}
	e.ingest(c, dps, true)
	cols := []store.Collection{c}
	both := []orb.Bound{Box(170, 0, 180, 1), Box(-180, 0, -170, 1)}
	requireSpatial(t, "after re-ingests", e.spatialQuery(cols, 0, both...), dps)
	requireSpatial(t, "after re-ingests, limit", e.spatialQuery(cols, 4, both...), dps[:4])
	// Deleting once removes every box.
	if _, err := e.st.Delete(e.ctx, c.ID, ids(dps[:10])); err != nil {
		t.Fatal(err)
	}
	requireSpatial(t, "after deleting half", e.spatialQuery(cols, 0, both...), dps[10:])
}

func testSpatialRollback(t *testing.T, e *env) {
	d := e.createDataset("my_org", "footprints")
	c, other := e.collection(d, "main"), e.collection(d, "other")
	old := []store.Datapoint{SpatialDatapoint(0, 0, "", Box(0, 0, 1, 1))}
	e.ingest(c, old, false)
	var dps []store.Datapoint
	for i := range 30 {
		dps = append(dps, SpatialDatapoint(int64(i+1)*1000, uint64(i+1), "", Box(0, 0, 1, 1), Box(2, 2, 3, 3)))
	}
	_, err := e.st.Ingest(e.ctx, c.ID, append(slices.Clone(dps), old...), false)
	requireErr(t, err, store.ErrAlreadyExists, "Ingest with an existing ID")
	cols := []store.Collection{c}
	requireSpatial(t, "after a failed ingest", e.spatialQuery(cols, 0, World), old)
	requireSpatial(t, "after a failed ingest, the other collection", e.spatialQuery([]store.Collection{other}, 0, World), nil)

	// Then the same datapoints land, each once.
	e.ingest(c, dps, false)
	requireSpatial(t, "after the ingest", e.spatialQuery(cols, 0, Box(0.5, 0.5, 2.5, 2.5)), append(slices.Clone(old), dps...))
}
