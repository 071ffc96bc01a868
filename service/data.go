package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/geo"
	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

// Ingest stores datapoints: each value is decoded against the dataset type,
// its id and ingestion_time are replaced, and its ID is computed from its
// content (scheme v1), so the same datapoint always gets the same ID.
func (s *Service) Ingest(ctx context.Context, req *connect.Request[datasetsv1.IngestRequest]) (*connect.Response[datasetsv1.IngestResponse], error) {
	m := req.Msg
	cID, err := parseID("collection_id", m.GetCollectionId())
	if err != nil {
		return nil, err
	}
	if n := len(m.GetValues()); n > MaxValuesPerCall {
		return nil, invalid("at most %d values per call, got %d", MaxValuesPerCall, n)
	}
	c, err := s.st.CollectionByID(ctx, cID)
	if err != nil {
		return nil, toConnect(err)
	}
	t, err := s.datasetType(ctx, c.DatasetID)
	if err != nil {
		return nil, err
	}
	dps := make([]store.Datapoint, len(m.GetValues()))
	// Validate the whole call before writing anything.
	for i, v := range m.GetValues() {
		if len(v) == 0 {
			return nil, invalid("values[%d] is empty", i)
		}
		canon, millis, err := t.canon.Canonical(v)
		if err != nil {
			return nil, invalid("values[%d]: %v", i, err)
		}
		id, err := convert.ID(millis, canon)
		if err != nil {
			return nil, invalid("values[%d]: %v", i, err)
		}
		dps[i] = store.Datapoint{ID: id, Data: canon}
		if t.ds.Kind == schema.SpatioTemporal {
			if dps[i].Bounds, err = ingestBounds(canon); err != nil {
				return nil, invalid("values[%d]: geometry: %v", i, err)
			}
		}
	}
	res, err := s.st.Ingest(ctx, cID, dps, m.GetAllowExisting())
	if err != nil {
		var ee *store.ExistsError
		if errors.As(err, &ee) {
			return nil, connect.NewError(connect.CodeAlreadyExists, err)
		}
		return nil, toConnect(err)
	}
	resp := &datasetsv1.IngestResponse{NumCreated: res.Created, NumExisting: res.NumExisting(), DatapointIds: make([]*tileboxv1.ID, len(dps))}
	for i, dp := range dps {
		resp.DatapointIds[i] = pbID(dp.ID)
	}
	return connect.NewResponse(resp), nil
}

// Delete removes datapoints by ID, all or nothing.
func (s *Service) Delete(ctx context.Context, req *connect.Request[datasetsv1.DeleteRequest]) (*connect.Response[datasetsv1.DeleteResponse], error) {
	cID, err := parseID("collection_id", req.Msg.GetCollectionId())
	if err != nil {
		return nil, err
	}
	if n := len(req.Msg.GetDatapointIds()); n > MaxValuesPerCall {
		return nil, invalid("at most %d datapoint_ids per call, got %d", MaxValuesPerCall, n)
	}
	if _, err := s.st.CollectionByID(ctx, cID); err != nil {
		return nil, toConnect(err)
	}
	ids := make([]store.ID, len(req.Msg.GetDatapointIds()))
	for i, id := range req.Msg.GetDatapointIds() {
		u, err := parseID(fmt.Sprintf("datapoint_ids[%d]", i), id)
		if err != nil {
			return nil, err
		}
		ids[i] = store.ID(u)
	}
	n, err := s.st.Delete(ctx, cID, ids)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&datasetsv1.DeleteResponse{NumDeleted: n}), nil
}

// QueryByID returns one datapoint.
func (s *Service) QueryByID(ctx context.Context, req *connect.Request[datasetsv1.QueryByIDRequest]) (*connect.Response[datasetsv1.Any], error) {
	if req.Msg.GetId() == nil || len(req.Msg.GetId().GetUuid()) != 16 {
		return nil, invalid("invalid datapoint id: want 16 bytes")
	}
	t, cols, err := s.collectionsOf(ctx, req.Msg.GetDatasetId(), req.Msg.GetCollectionIds())
	if err != nil {
		return nil, err
	}
	id := store.ID(req.Msg.GetId().GetUuid())
	dp, err := s.st.Get(ctx, cols, id, req.Msg.GetSkipData())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no such datapoint: %s", id))
		}
		return nil, toConnect(err)
	}
	value := convert.Splice(nil, dp.Data, dp.ID, dp.IngestionTime, req.Msg.GetSkipData())
	return connect.NewResponse(&datasetsv1.Any{TypeUrl: t.ds.TypeURL(), Value: value}), nil
}

// Query returns a page of datapoints in (time, id) order. next_page is set
// only when more may follow, and then carries the last id as cursor. A
// spatial_extent keeps the datapoints whose geometry matches it (spatial.go).
func (s *Service) Query(ctx context.Context, req *connect.Request[datasetsv1.QueryRequest]) (*connect.Response[datasetsv1.QueryResultPage], error) {
	m := req.Msg
	t, cols, err := s.collectionsOf(ctx, m.GetDatasetId(), m.GetCollectionIds())
	if err != nil {
		return nil, err
	}
	q, empty, err := idRange(m.GetFilters())
	if err != nil {
		return nil, err
	}
	var filter *geo.Filter
	if sf := m.GetFilters().GetSpatialExtent(); sf != nil {
		if t.ds.Kind != schema.SpatioTemporal {
			return nil, connect.NewError(connect.CodeInvalidArgument, errTemporalSpatial)
		}
		if filter, q.Boxes, q.Spatial, err = spatialFilter(sf); err != nil {
			return nil, err
		}
	}
	limit := DefaultPageSize
	if p := m.GetPage(); p != nil {
		if p.Limit != nil {
			if p.GetLimit() < 1 {
				return nil, invalid("page.limit must be at least 1")
			}
			limit = int(min(p.GetLimit(), MaxPageSize))
		}
		if p.GetStartingAfter() != nil {
			after := p.GetStartingAfter().GetUuid()
			if len(after) != 16 {
				return nil, invalid("page.starting_after: want 16 bytes")
			}
			next, ok := incr(store.ID(after))
			if !ok {
				empty = true
			} else if less(q.From, next) {
				q.From = next
			}
		}
	}
	page := &datasetsv1.QueryResultPage{Data: &datasetsv1.RepeatedAny{TypeUrl: t.ds.TypeURL()}}
	if empty || len(cols) == 0 || less(q.To, q.From) {
		return connect.NewResponse(page), nil
	}
	q.Collections, q.Limit, q.SkipData = cols, limit+1, m.GetSkipData()
	var dps []store.Datapoint
	if filter != nil {
		dps, err = s.querySpatial(ctx, q, filter, limit+1)
	} else {
		dps, err = s.st.Query(ctx, q)
	}
	if err != nil {
		return nil, toConnect(err)
	}
	more := len(dps) > limit
	if more {
		dps = dps[:limit]
	}
	// Keep pages under a byte budget too; the cursor makes a short page safe.
	size := 0
	for i, dp := range dps {
		v := convert.Splice(nil, dp.Data, dp.ID, dp.IngestionTime, m.GetSkipData())
		size += len(v)
		page.Data.Value = append(page.Data.Value, v)
		if size > defaultPageBytes && i+1 < len(dps) {
			more = true
			break
		}
	}
	if more {
		last := dps[len(page.Data.Value)-1].ID
		page.NextPage = &tileboxv1.Pagination{StartingAfter: pbID(last)}
		if m.GetPage() != nil && m.GetPage().Limit != nil {
			page.NextPage.Limit = m.GetPage().Limit
		}
	}
	return connect.NewResponse(page), nil
}

// idRange turns the filters into an inclusive ID range. IDs start with the
// time in ms, so a time interval is an ID range and queries compare times at
// millisecond precision.
func idRange(f *datasetsv1.QueryFilters) (store.Query, bool, error) {
	var q store.Query
	if f == nil {
		return q, false, invalid("filters are required: a time_interval or a datapoint_interval")
	}
	if len(f.GetExpressions()) > 0 {
		return q, false, invalid("filter expressions: no field of this dataset is queryable")
	}
	ti, ii := f.GetTimeInterval(), f.GetDatapointInterval()
	switch {
	case ti != nil && ii != nil:
		return q, false, invalid("filters: set either time_interval or datapoint_interval, not both")
	case ti != nil:
		if ti.GetStartTime() == nil || ti.GetEndTime() == nil {
			return q, false, invalid("time_interval needs start_time and end_time")
		}
		start := millisOf(ti.GetStartTime().AsTime())
		end := millisOf(ti.GetEndTime().AsTime())
		if ti.GetStartExclusive() {
			start++
		}
		if !ti.GetEndInclusive() {
			end--
		}
		if end < 0 || start > convert.MaxMillis || start > end {
			return q, true, nil
		}
		q.From, q.To = convert.MinID(start), convert.MaxID(end)
		return q, false, nil
	case ii != nil:
		if ii.GetStartId() == nil || ii.GetEndId() == nil || len(ii.GetStartId().GetUuid()) != 16 || len(ii.GetEndId().GetUuid()) != 16 {
			return q, false, invalid("datapoint_interval needs 16-byte start_id and end_id")
		}
		q.From, q.To = store.ID(ii.GetStartId().GetUuid()), store.ID(ii.GetEndId().GetUuid())
		ok := true
		if ii.GetStartExclusive() {
			q.From, ok = incr(q.From)
		}
		if ok && !ii.GetEndInclusive() {
			q.To, ok = decr(q.To)
		}
		return q, !ok || less(q.To, q.From), nil
	}
	return q, false, invalid("filters: a time_interval or a datapoint_interval is required")
}

// millisOf is unix ms rounded down, clamped to what an ID can carry ± 1.
func millisOf(t time.Time) int64 {
	s := t.Unix()
	if s < -1 {
		return -1
	}
	if s > convert.MaxMillis/1000+1 {
		return convert.MaxMillis + 1
	}
	return convert.TimeMillis(s, int32(t.Nanosecond()))
}

func less(a, b store.ID) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func incr(id store.ID) (store.ID, bool) {
	for i := 15; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			return id, true
		}
	}
	return id, false
}

func decr(id store.ID) (store.ID, bool) {
	for i := 15; i >= 0; i-- {
		id[i]--
		if id[i] != 0xff {
			return id, true
		}
	}
	return id, false
}
