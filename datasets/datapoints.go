package datasets

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"reflect"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/paulmach/orb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/geo"
	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
	"github.com/granaryhq/granary/schema"
)

// MaxBatch is the API's limit of datapoints per ingest or delete call.
const MaxBatch = 8192

// DatapointClient ingests, queries and deletes datapoints.
type DatapointClient struct{ api API }

// IngestResponse tells what an ingest did. DatapointIDs are in input order.
type IngestResponse struct {
	NumCreated   int64
	NumExisting  int64
	DatapointIDs []uuid.UUID
}

// Ingest stores datapoints (a slice of proto messages of the dataset's
// type, e.g. from Dataset.NewMessage) in calls of at most 8192. Each call is
// all-or-nothing; with allowExisting, datapoints already stored are skipped
// and counted, otherwise any of them fails its call.
func (c *DatapointClient) Ingest(ctx context.Context, collectionID uuid.UUID, datapoints any, allowExisting bool) (*IngestResponse, error) {
	msgs, err := messages(datapoints)
	if err != nil {
		return nil, err
	}
	values := make([][]byte, len(msgs))
	for i, m := range msgs {
		b, _, err := convert.Canonical(m)
		if err != nil {
			return nil, fmt.Errorf("ingest: datapoint %d: %w", i, err)
		}
		values[i] = b
	}
	return c.IngestEncoded(ctx, collectionID, values, allowExisting)
}

// IngestEncoded stores datapoints given as encoded protobuf bytes.
func (c *DatapointClient) IngestEncoded(ctx context.Context, collectionID uuid.UUID, values [][]byte, allowExisting bool) (*IngestResponse, error) {
	out := &IngestResponse{DatapointIDs: make([]uuid.UUID, 0, len(values))}
	for lo := 0; lo < len(values); lo += MaxBatch {
		hi := min(lo+MaxBatch, len(values))
		resp, err := c.api.Ingest(ctx, connect.NewRequest(&datasetsv1.IngestRequest{
			CollectionId: pbID(collectionID), Values: values[lo:hi], AllowExisting: allowExisting}))
		if err != nil {
			if lo > 0 {
				return out, apiError(fmt.Sprintf("ingest datapoints %d-%d (the %d before were stored)", lo+1, hi, lo), err)
			}
			return out, apiError("ingest", err)
		}
		out.NumCreated += resp.Msg.GetNumCreated()
		out.NumExisting += resp.Msg.GetNumExisting()
		for _, id := range resp.Msg.GetDatapointIds() {
			u, _ := uuid.FromBytes(id.GetUuid())
			out.DatapointIDs = append(out.DatapointIDs, u)
		}
	}
	return out, nil
}

// DeleteIDs deletes datapoints by ID in calls of at most 8192. A call fails
// whole, deleting nothing, if any of its IDs is not in the collection.
func (c *DatapointClient) DeleteIDs(ctx context.Context, collectionID uuid.UUID, ids []uuid.UUID) (int64, error) {
	var n int64
	for lo := 0; lo < len(ids); lo += MaxBatch {
		hi := min(lo+MaxBatch, len(ids))
		req := &datasetsv1.DeleteRequest{CollectionId: pbID(collectionID)}
		for _, id := range ids[lo:hi] {
			req.DatapointIds = append(req.DatapointIds, pbID(id))
		}
		resp, err := c.api.Delete(ctx, connect.NewRequest(req))
		if err != nil {
			return n, apiError("delete", err)
		}
		n += resp.Msg.GetNumDeleted()
	}
	return n, nil
}

// Delete deletes datapoints given as messages (their id field is used).
func (c *DatapointClient) Delete(ctx context.Context, collectionID uuid.UUID, datapoints any) (int64, error) {
	msgs, err := messages(datapoints)
	if err != nil {
		return 0, err
	}
	ids := make([]uuid.UUID, len(msgs))
	for i, m := range msgs {
		if ids[i], err = IDOf(m); err != nil {
			return 0, fmt.Errorf("delete: datapoint %d: %w", i, err)
		}
	}
	return c.DeleteIDs(ctx, collectionID, ids)
}

// IDOf returns the id field of a datapoint message.
func IDOf(m proto.Message) (uuid.UUID, error) {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(schema.FieldID)
	if fd == nil || !r.Has(fd) {
		return uuid.Nil, errors.New("datapoint has no id")
	}
	inner := r.Get(fd).Message()
	return uuid.FromBytes(inner.Get(inner.Descriptor().Fields().ByNumber(1)).Bytes())
}

// QueryOption narrows a query.
type QueryOption func(*queryConfig)

type queryConfig struct {
	time        *TimeInterval
	ids         *IDInterval
	collections []uuid.UUID
	skipData    bool
	pageSize    int64
	spatial     *spatialConfig
}

type spatialConfig struct {
	geometry orb.Geometry
	mode     geo.Mode
	cs       geo.CoordSystem
}

// WithTemporalExtent selects by time (a TimeInterval) or by ID (an IDInterval).
func WithTemporalExtent[E TimeInterval | IDInterval](e E) QueryOption {
	return func(q *queryConfig) {
		switch v := any(e).(type) {
		case TimeInterval:
			q.time, q.ids = &v, nil
		case IDInterval:
			q.ids, q.time = &v, nil
		}
	}
}

// WithCollections restricts a query to these collections (default: all of
// the dataset's).
func WithCollections(ids ...uuid.UUID) QueryOption {
	return func(q *queryConfig) { q.collections = append(q.collections, ids...) }
}

// WithSpatialExtent keeps the datapoints whose geometry intersects g
// (touching counts), with straight edges in lon/lat; datapoints without
// geometry never match. It needs a spatiotemporal dataset. It is
// WithSpatialFilter(g, geo.Intersects, geo.Cartesian).
//
// The server cuts g at the antimeridian (RFC 7946), so an edge always runs
// the short way round: a polygon from 170°E to 170°W covers the 20° across
// the Pacific. An orb.Bound is a lon/lat box, across the antimeridian when
// Min[0] > Max[0] (west > east, as geo.BBoxPolygon reads it); it is sent
// with a vertex every degree along its edges, so that a box wider than 180°
// means what it says, and on the sphere its edges follow the parallels.
func WithSpatialExtent(g orb.Geometry) QueryOption {
	return WithSpatialFilter(g, geo.Intersects, geo.Cartesian)
}

// WithSpatialFilter keeps the datapoints whose geometry matches g: with
// geo.Intersects those that share a point with g, with geo.Contains those
// that lie entirely inside it (boundary included). geo.Cartesian reads
// edges as straight lines in lon/lat, geo.Spherical as great circles.
// Geometries are read as WithSpatialExtent describes.
func WithSpatialFilter(g orb.Geometry, mode geo.Mode, cs geo.CoordSystem) QueryOption {
	return func(q *queryConfig) { q.spatial = &spatialConfig{geometry: g, mode: mode, cs: cs} }
}

// filter is the request's form of the spatial filter.
func (c *spatialConfig) filter() (*datasetsv1.SpatialFilter, error) {
	g := c.geometry
	if b, ok := g.(orb.Bound); ok {
		g = densifyBox(geo.BBoxPolygon(b.Min[0], b.Min[1], b.Max[0], b.Max[1]))
	}
	wkb, err := geo.MarshalWKB(g)
	if err != nil {
		return nil, fmt.Errorf("spatial filter: %w", err)
	}
	f := &datasetsv1.SpatialFilter{Geometry: &datasetsv1.Geometry{Wkb: wkb}}
	switch c.mode {
	case geo.Intersects:
		f.Mode = datasetsv1.SpatialFilterMode_SPATIAL_FILTER_MODE_INTERSECTS
	case geo.Contains:
		f.Mode = datasetsv1.SpatialFilterMode_SPATIAL_FILTER_MODE_CONTAINS
	default:
		return nil, fmt.Errorf("spatial filter: unknown mode %v", c.mode)
	}
	switch c.cs {
	case geo.Cartesian:
		f.CoordinateSystem = datasetsv1.SpatialCoordinateSystem_SPATIAL_COORDINATE_SYSTEM_CARTESIAN
	case geo.Spherical:
		f.CoordinateSystem = datasetsv1.SpatialCoordinateSystem_SPATIAL_COORDINATE_SYSTEM_SPHERICAL
	default:
		return nil, fmt.Errorf("spatial filter: unknown coordinate system %v", c.cs)
	}
	return f, nil
}

// densifyBox puts a vertex every degree of longitude along the edges of
// the boxes geo.BBoxPolygon makes: the planar box is the same, no edge is
// read the other way round the globe, and on the sphere the edges follow
// the parallels closely.
func densifyBox(g orb.Geometry) orb.Geometry {
	ring := func(r orb.Ring) orb.Ring {
		var out orb.Ring
		for i := 0; i+1 < len(r); i++ {
			a, b := r[i], r[i+1]
			n := max(1, int(math.Ceil(math.Abs(b[0]-a[0]))))
			for k := range n {
				f := float64(k) / float64(n)
				out = append(out, orb.Point{a[0] + f*(b[0]-a[0]), a[1] + f*(b[1]-a[1])})
			}
		}
		return append(out, r[len(r)-1])
	}
	switch g := g.(type) {
	case orb.Polygon:
		return orb.Polygon{ring(g[0])}
	case orb.MultiPolygon:
		out := make(orb.MultiPolygon, len(g))
		for i, p := range g {
			out[i] = orb.Polygon{ring(p[0])}
		}
		return out
	}
	return g
}

// WithSkipData returns only time, id and ingestion_time of each datapoint.
func WithSkipData() QueryOption { return func(q *queryConfig) { q.skipData = true } }

// WithPageSize sets how many datapoints each underlying call fetches.
func WithPageSize(n int) QueryOption { return func(q *queryConfig) { q.pageSize = int64(n) } }

// Query streams the encoded datapoints of a dataset that match, in (time, id)
// order, fetching page after page. Decode them with Dataset.NewMessage and
// proto.Unmarshal, or use QueryInto.
func (c *DatapointClient) Query(ctx context.Context, datasetID uuid.UUID, opts ...QueryOption) iter.Seq2[[]byte, error] {
	var qc queryConfig
	for _, o := range opts {
		o(&qc)
	}
	return func(yield func([]byte, error) bool) {
		req := &datasetsv1.QueryRequest{DatasetId: pbID(datasetID), SkipData: qc.skipData, Filters: &datasetsv1.QueryFilters{}}
		for _, id := range qc.collections {
			req.CollectionIds = append(req.CollectionIds, pbID(id))
		}
		switch {
		case qc.time != nil:
			req.Filters.TimeInterval = &tileboxv1.TimeInterval{StartTime: timestamppb.New(qc.time.Start), EndTime: timestamppb.New(qc.time.End),
				StartExclusive: qc.time.StartExclusive, EndInclusive: qc.time.EndInclusive}
		case qc.ids != nil:
			req.Filters.DatapointInterval = &tileboxv1.IDInterval{StartId: pbID(qc.ids.StartID), EndId: pbID(qc.ids.EndID),
				StartExclusive: qc.ids.StartExclusive, EndInclusive: !qc.ids.EndExclusive}
		default:
			yield(nil, errors.New("query: WithTemporalExtent is required (a TimeInterval or an IDInterval)"))
			return
		}
		if qc.spatial != nil {
			sf, err := qc.spatial.filter()
			if err != nil {
				yield(nil, fmt.Errorf("query: %w", err))
				return
			}
			req.Filters.SpatialExtent = sf
		}
		if qc.pageSize > 0 {
			req.Page = &tileboxv1.Pagination{Limit: &qc.pageSize}
		}
		for {
			resp, err := c.api.Query(ctx, connect.NewRequest(req))
			if err != nil {
				yield(nil, apiError("query", err))
				return
			}
			for _, v := range resp.Msg.GetData().GetValue() {
				if !yield(v, nil) {
					return
				}
			}
			next := resp.Msg.GetNextPage()
			if next == nil {
				return
			}
			req.Page = next
		}
	}
}

// QueryInto collects all matching datapoints into dst: a pointer to a slice
// of a generated message type (*[]*T), or *[]*dynamicpb.Message /
// *[]proto.Message, which get messages of the dataset's type.
func (c *DatapointClient) QueryInto(ctx context.Context, ds *Dataset, dst any, opts ...QueryOption) error {
	slice := reflect.ValueOf(dst)
	if slice.Kind() != reflect.Pointer || slice.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("QueryInto: dst must be a pointer to a slice of messages, got %T", dst)
	}
	newMsg, err := messageMaker(ds, slice.Elem().Type().Elem())
	if err != nil {
		return err
	}
	for b, err := range c.Query(ctx, ds.ID, opts...) {
		if err != nil {
			return err
		}
		m := newMsg()
		if err := proto.Unmarshal(b, m); err != nil {
			return fmt.Errorf("QueryInto: decode datapoint: %w", err)
		}
		slice.Elem().Set(reflect.Append(slice.Elem(), reflect.ValueOf(m)))
	}
	return nil
}

// GetInto fetches one datapoint by ID into dst.
func (c *DatapointClient) GetInto(ctx context.Context, ds *Dataset, id uuid.UUID, dst proto.Message, opts ...QueryOption) error {
	var qc queryConfig
	for _, o := range opts {
		o(&qc)
	}
	req := &datasetsv1.QueryByIDRequest{DatasetId: pbID(ds.ID), Id: pbID(id), SkipData: qc.skipData}
	for _, cid := range qc.collections {
		req.CollectionIds = append(req.CollectionIds, pbID(cid))
	}
	resp, err := c.api.QueryByID(ctx, connect.NewRequest(req))
	if err != nil {
		return apiError("get datapoint "+id.String(), err)
	}
	if err := proto.Unmarshal(resp.Msg.GetValue(), dst); err != nil {
		return fmt.Errorf("get datapoint %s: decode: %w", id, err)
	}
	return nil
}

var (
	protoMessageType = reflect.TypeFor[proto.Message]()
	dynamicType      = reflect.TypeFor[*dynamicpb.Message]()
)

func messageMaker(ds *Dataset, elem reflect.Type) (func() proto.Message, error) {
	switch {
	case elem == dynamicType || elem == protoMessageType:
		return func() proto.Message { return ds.NewMessage() }, nil
	case elem.Implements(protoMessageType) && elem.Kind() == reflect.Pointer:
		return func() proto.Message { return reflect.New(elem.Elem()).Interface().(proto.Message) }, nil
	}
	return nil, fmt.Errorf("QueryInto: slice element %s is not a proto message pointer", elem)
}

// messages turns a slice of proto messages (any element type) into []proto.Message.
func messages(datapoints any) ([]proto.Message, error) {
	if ms, ok := datapoints.([]proto.Message); ok {
		return ms, nil
	}
	v := reflect.ValueOf(datapoints)
	if v.Kind() != reflect.Slice {
		return nil, fmt.Errorf("datapoints must be a slice of proto messages, got %T", datapoints)
	}
	out := make([]proto.Message, v.Len())
	for i := range out {
		m, ok := v.Index(i).Interface().(proto.Message)
		if !ok {
			return nil, fmt.Errorf("datapoints[%d] is a %s, not a proto message", i, v.Index(i).Type())
		}
		out[i] = m
	}
	return out, nil
}
