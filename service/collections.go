package service

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/granaryhq/granary/convert"
	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
	"github.com/granaryhq/granary/store"
)

// CreateCollection creates a named collection in a dataset.
func (s *Service) CreateCollection(ctx context.Context, req *connect.Request[datasetsv1.CreateCollectionRequest]) (*connect.Response[datasetsv1.CollectionInfo], error) {
	dsID, err := parseID("dataset_id", req.Msg.GetDatasetId())
	if err != nil {
		return nil, err
	}
	name := req.Msg.GetName()
	if name == "" {
		return nil, invalid("name is required")
	}
	if _, err := s.st.Dataset(ctx, dsID); err != nil {
		return nil, toConnect(err)
	}
	c, err := s.st.CreateCollection(ctx, dsID, name)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&datasetsv1.CollectionInfo{Collection: pbCollection(c), Count: ptrU64(0)}), nil
}

// GetCollectionByName finds a collection by its name within a dataset.
func (s *Service) GetCollectionByName(ctx context.Context, req *connect.Request[datasetsv1.GetCollectionByNameRequest]) (*connect.Response[datasetsv1.CollectionInfo], error) {
	dsID, err := parseID("dataset_id", req.Msg.GetDatasetId())
	if err != nil {
		return nil, err
	}
	if req.Msg.GetCollectionName() == "" {
		return nil, invalid("collection_name is required")
	}
	c, err := s.st.Collection(ctx, dsID, req.Msg.GetCollectionName())
	if err != nil {
		return nil, toConnect(err)
	}
	info, err := s.collectionInfo(ctx, c, req.Msg.GetWithAvailability(), req.Msg.GetWithCount())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(info), nil
}

// DeleteCollection removes a collection and its datapoints.
func (s *Service) DeleteCollection(ctx context.Context, req *connect.Request[datasetsv1.DeleteCollectionRequest]) (*connect.Response[datasetsv1.DeleteCollectionResponse], error) {
	dsID, err := parseID("dataset_id", req.Msg.GetDatasetId())
	if err != nil {
		return nil, err
	}
	cID, err := parseID("collection_id", req.Msg.GetCollectionId())
	if err != nil {
		return nil, err
	}
	c, err := s.st.CollectionByID(ctx, cID)
	if err != nil {
		return nil, toConnect(err)
	}
	if c.DatasetID != dsID {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("collection %s is not in dataset %s", cID, dsID))
	}
	if err := s.st.DeleteCollection(ctx, cID); err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&datasetsv1.DeleteCollectionResponse{}), nil
}

// ListCollections lists a dataset's collections.
func (s *Service) ListCollections(ctx context.Context, req *connect.Request[datasetsv1.ListCollectionsRequest]) (*connect.Response[datasetsv1.ListCollectionsResponse], error) {
	dsID, err := parseID("dataset_id", req.Msg.GetDatasetId())
	if err != nil {
		return nil, err
	}
	if _, err := s.st.Dataset(ctx, dsID); err != nil {
		return nil, toConnect(err)
	}
	cols, err := s.st.Collections(ctx, dsID)
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &datasetsv1.ListCollectionsResponse{OwnedCollections: int64(len(cols))}
	for _, c := range cols {
		info, err := s.collectionInfo(ctx, c, req.Msg.GetWithAvailability(), req.Msg.GetWithCount())
		if err != nil {
			return nil, err
		}
		resp.Data = append(resp.Data, info)
	}
	return connect.NewResponse(resp), nil
}

// collectionInfo fills availability ([first, last] time, end inclusive)
// and count when asked; an empty collection has count 0 and no availability.
func (s *Service) collectionInfo(ctx context.Context, c store.Collection, withAvailability, withCount bool) (*datasetsv1.CollectionInfo, error) {
	info := &datasetsv1.CollectionInfo{Collection: pbCollection(c)}
	if !withAvailability && !withCount {
		return info, nil
	}
	st, err := s.st.CollectionStats(ctx, c.ID)
	if err != nil {
		return nil, toConnect(err)
	}
	if withCount {
		info.Count = ptrU64(st.Count)
	}
	if withAvailability && st.Count > 0 {
		first, ok1 := convert.TimeOf(st.First.Data)
		last, ok2 := convert.TimeOf(st.Last.Data)
		if !ok1 || !ok2 {
			return nil, connect.NewError(connect.CodeInternal, errors.New("stored datapoint has no time"))
		}
		info.Availability = &tileboxv1.TimeInterval{StartTime: timestamppb.New(first), EndTime: timestamppb.New(last), EndInclusive: true}
	}
	return info, nil
}

func pbCollection(c store.Collection) *datasetsv1.Collection {
	return &datasetsv1.Collection{Name: c.Name, Id: pbID(c.ID)}
}

func ptrU64(v uint64) *uint64 { return &v }

// collectionsOf resolves the dataset and collections a query names: empty
// collection_ids means all of the dataset's; without dataset_id the dataset
// is that of the collections.
func (s *Service) collectionsOf(ctx context.Context, dsPB *tileboxv1.ID, ids []*tileboxv1.ID) (*datasetType, []uuid.UUID, error) {
	if len(ids) > MaxCollectionIDs {
		return nil, nil, invalid("at most %d collection_ids, got %d", MaxCollectionIDs, len(ids))
	}
	var dsID uuid.UUID
	if dsPB != nil {
		var err error
		if dsID, err = parseID("dataset_id", dsPB); err != nil {
			return nil, nil, err
		}
	}
	var cols []uuid.UUID
	for i, id := range ids {
		u, err := parseID(fmt.Sprintf("collection_ids[%d]", i), id)
		if err != nil {
			return nil, nil, err
		}
		c, err := s.st.CollectionByID(ctx, u)
		if err != nil {
			return nil, nil, toConnect(err)
		}
		if dsID == uuid.Nil {
			dsID = c.DatasetID
		}
		if c.DatasetID != dsID {
			return nil, nil, invalid("collection %s is not in dataset %s", u, dsID)
		}
		cols = append(cols, u)
	}
	if dsID == uuid.Nil {
		return nil, nil, invalid("dataset_id or at least one collection id is required")
	}
	t, err := s.datasetType(ctx, dsID)
	if err != nil {
		return nil, nil, err
	}
	if len(cols) == 0 {
		all, err := s.st.Collections(ctx, dsID)
		if err != nil {
			return nil, nil, toConnect(err)
		}
		for _, c := range all {
			cols = append(cols, c.ID)
		}
	}
	return t, cols, nil
}
