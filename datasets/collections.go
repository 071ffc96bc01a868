package datasets

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
)

// Collection is a named set of datapoints in a dataset.
type Collection struct {
	ID   uuid.UUID
	Name string
	// Availability is the time span of its datapoints (both ends included);
	// zero when the collection is empty.
	Availability TimeInterval
	Count        uint64
}

func newCollection(info *datasetsv1.CollectionInfo) *Collection {
	id, _ := uuid.FromBytes(info.GetCollection().GetId().GetUuid())
	c := &Collection{ID: id, Name: info.GetCollection().GetName(), Count: info.GetCount()}
	if a := info.GetAvailability(); a != nil {
		c.Availability = TimeInterval{Start: a.GetStartTime().AsTime(), End: a.GetEndTime().AsTime(), EndInclusive: a.GetEndInclusive()}
	}
	return c
}

// CollectionClient reads and writes collections.
type CollectionClient struct{ api API }

// Create creates a collection; the name must be new in the dataset.
func (c *CollectionClient) Create(ctx context.Context, datasetID uuid.UUID, name string) (*Collection, error) {
	resp, err := c.api.CreateCollection(ctx, connect.NewRequest(&datasetsv1.CreateCollectionRequest{DatasetId: pbID(datasetID), Name: name}))
	if err != nil {
		return nil, apiError("create collection "+name, err)
	}
	return newCollection(resp.Msg), nil
}

// Get finds a collection by name, with its availability and count.
func (c *CollectionClient) Get(ctx context.Context, datasetID uuid.UUID, name string) (*Collection, error) {
	resp, err := c.api.GetCollectionByName(ctx, connect.NewRequest(&datasetsv1.GetCollectionByNameRequest{
		DatasetId: pbID(datasetID), CollectionName: name, WithAvailability: true, WithCount: true}))
	if err != nil {
		return nil, apiError("get collection "+name, err)
	}
	return newCollection(resp.Msg), nil
}

// GetOrCreate returns the named collection, creating it when missing.
func (c *CollectionClient) GetOrCreate(ctx context.Context, datasetID uuid.UUID, name string) (*Collection, error) {
	col, err := c.Get(ctx, datasetID, name)
	if IsNotFound(err) {
		col, err = c.Create(ctx, datasetID, name)
		if IsAlreadyExists(err) { // created concurrently by someone else
			return c.Get(ctx, datasetID, name)
		}
	}
	return col, err
}

// List returns the dataset's collections with availability and count.
func (c *CollectionClient) List(ctx context.Context, datasetID uuid.UUID) ([]*Collection, error) {
	resp, err := c.api.ListCollections(ctx, connect.NewRequest(&datasetsv1.ListCollectionsRequest{
		DatasetId: pbID(datasetID), WithAvailability: true, WithCount: true}))
	if err != nil {
		return nil, apiError("list collections", err)
	}
	out := make([]*Collection, 0, len(resp.Msg.GetData()))
	for _, info := range resp.Msg.GetData() {
		out = append(out, newCollection(info))
	}
	return out, nil
}

// Delete removes a collection and all its datapoints.
func (c *CollectionClient) Delete(ctx context.Context, datasetID, collectionID uuid.UUID) error {
	_, err := c.api.DeleteCollection(ctx, connect.NewRequest(&datasetsv1.DeleteCollectionRequest{
		DatasetId: pbID(datasetID), CollectionId: pbID(collectionID)}))
	return apiError("delete collection "+collectionID.String(), err)
}

func pbID(id uuid.UUID) *tileboxv1.ID { return &tileboxv1.ID{Uuid: id[:]} }

// TimeInterval selects datapoints by time. The zero flags mean [Start, End).
type TimeInterval struct {
	Start, End     time.Time
	StartExclusive bool
	EndInclusive   bool
}

// NewTimeInterval is the half-open interval [start, end).
func NewTimeInterval(start, end time.Time) TimeInterval { return TimeInterval{Start: start, End: end} }

// At is the interval holding exactly the instant t (at millisecond precision).
func At(t time.Time) TimeInterval { return TimeInterval{Start: t, End: t, EndInclusive: true} }

// IDInterval selects datapoints by ID range; both ends are included by default.
type IDInterval struct {
	StartID, EndID uuid.UUID
	StartExclusive bool
	EndExclusive   bool
}
