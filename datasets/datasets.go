package datasets

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/service"
)

// Dataset is a dataset as the API describes it.
type Dataset struct {
	ID          uuid.UUID
	Slug        string
	Name        string
	Summary     string
	Description string
	// Schema holds the kind and typed fields.
	Schema *schema.Dataset
	// Type is the dataset's message type as delivered by the API.
	Type *datasetsv1.AnnotatedType
	// Collections is filled by List.
	Collections []*Collection

	md protoreflect.MessageDescriptor
}

// MessageDescriptor is the protobuf type of the dataset's datapoints.
func (d *Dataset) MessageDescriptor() protoreflect.MessageDescriptor { return d.md }

// NewMessage returns an empty datapoint of this dataset, to fill and ingest.
func (d *Dataset) NewMessage() *dynamicpb.Message { return dynamicpb.NewMessage(d.md) }

func newDataset(pb *datasetsv1.Dataset) (*Dataset, error) {
	s, err := service.FromPBDataset(pb)
	if err != nil {
		return nil, err
	}
	md, err := s.MessageDescriptor()
	if err != nil {
		return nil, err
	}
	d := &Dataset{ID: s.ID, Slug: pb.GetSlug(), Name: pb.GetName(), Summary: pb.GetSummary(),
		Description: pb.GetDescription(), Schema: s, Type: pb.GetType(), md: md}
	for _, c := range pb.GetCollections() {
		d.Collections = append(d.Collections, newCollection(c))
	}
	return d, nil
}

// DatasetClient reads and writes datasets.
type DatasetClient struct{ api API }

// Get finds a dataset by slug ("group.code_name") or bare code name.
func (c *DatasetClient) Get(ctx context.Context, slug string) (*Dataset, error) {
	resp, err := c.api.GetDataset(ctx, connect.NewRequest(&datasetsv1.GetDatasetRequest{Slug: slug}))
	if err != nil {
		return nil, apiError("get dataset "+slug, err)
	}
	return newDataset(resp.Msg)
}

// GetByID finds a dataset by its ID.
func (c *DatasetClient) GetByID(ctx context.Context, id uuid.UUID) (*Dataset, error) {
	resp, err := c.api.GetDataset(ctx, connect.NewRequest(&datasetsv1.GetDatasetRequest{Id: &tileboxv1.ID{Uuid: id[:]}}))
	if err != nil {
		return nil, apiError("get dataset "+id.String(), err)
	}
	return newDataset(resp.Msg)
}

// List returns every dataset, each with its collections.
func (c *DatasetClient) List(ctx context.Context) ([]*Dataset, error) {
	resp, err := c.api.ListDatasets(ctx, connect.NewRequest(&datasetsv1.ListDatasetsRequest{
		ClientInfo: &datasetsv1.ClientInfo{Name: "Go", Environment: "granary"}}))
	if err != nil {
		return nil, apiError("list datasets", err)
	}
	out := make([]*Dataset, 0, len(resp.Msg.GetDatasets()))
	for _, pb := range resp.Msg.GetDatasets() {
		d, err := newDataset(pb)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Create creates a dataset from a schema (see schema.ReadFile). The
// schema's group is sent in the Granary-Group header; servers that do not
// know it put the dataset in the caller's own group.
func (c *DatasetClient) Create(ctx context.Context, s *schema.Dataset) (*Dataset, error) {
	req := connect.NewRequest(&datasetsv1.CreateDatasetRequest{
		Name: s.Name, CodeName: s.CodeName, Summary: s.Summary, Description: s.Description,
		Type: service.ToDatasetType(s),
	})
	if s.Group != "" {
		req.Header().Set(service.GroupHeader, s.Group)
	}
	resp, err := c.api.CreateDataset(ctx, req)
	if err != nil {
		return nil, apiError("create dataset "+s.Slug(), err)
	}
	return newDataset(resp.Msg)
}

// Update changes a dataset's name, texts and fields to those of s. Fields
// may be added at any time; removing or changing one needs empty collections.
func (c *DatasetClient) Update(ctx context.Context, id uuid.UUID, s *schema.Dataset) (*Dataset, error) {
	resp, err := c.api.UpdateDataset(ctx, connect.NewRequest(&datasetsv1.UpdateDatasetRequest{
		Id: &tileboxv1.ID{Uuid: id[:]}, Name: &s.Name, Summary: &s.Summary, Description: &s.Description,
		Type: service.ToDatasetType(s),
	}))
	if err != nil {
		return nil, apiError("update dataset "+s.Slug(), err)
	}
	return newDataset(resp.Msg)
}

// Delete removes a dataset with its collections and datapoints.
func (c *DatasetClient) Delete(ctx context.Context, id uuid.UUID) error {
	_, err := c.api.DeleteDataset(ctx, connect.NewRequest(&datasetsv1.DeleteDatasetRequest{Id: &tileboxv1.ID{Uuid: id[:]}}))
	return apiError(fmt.Sprintf("delete dataset %s", id), err)
}
