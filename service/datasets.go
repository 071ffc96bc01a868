package service

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/descriptorpb"

	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

// GroupHeader names the group a CreateDataset call creates the dataset in;
// without it the dataset goes to the service's own group, as for Tilebox
// clients, which create datasets in the caller's group.
const GroupHeader = "Granary-Group"

// CreateDataset creates a dataset in the service's group.
func (s *Service) CreateDataset(ctx context.Context, req *connect.Request[datasetsv1.CreateDatasetRequest]) (*connect.Response[datasetsv1.Dataset], error) {
	m := req.Msg
	if err := checkText(m.GetName(), m.GetSummary(), m.GetDescription()); err != nil {
		return nil, err
	}
	if !schema.ValidCodeName(m.GetCodeName()) {
		return nil, invalid("code_name %q: want ^[a-z][a-z0-9_]*$, 1-100 characters", m.GetCodeName())
	}
	if m.GetType() == nil {
		return nil, invalid("type is required")
	}
	kind, fields, err := fromDatasetType(m.GetType())
	if err != nil {
		return nil, err
	}
	group := s.group
	if g := req.Header().Get(GroupHeader); g != "" {
		if !schema.ValidCodeName(g) {
			return nil, invalid("%s header %q: want a lower snake_case code name", GroupHeader, g)
		}
		group = g
	}
	ds := &schema.Dataset{ID: uuid.New(), Group: group, CodeName: m.GetCodeName(), Name: m.GetName(),
		Summary: m.GetSummary(), Description: m.GetDescription(), Kind: kind}
	if err := ds.SetFields(fields); err != nil {
		return nil, invalid("%v", err)
	}
	if err := ds.Validate(); err != nil {
		return nil, invalid("%v", err)
	}
	if ds.GroupID, err = s.st.GroupID(ctx, ds.Group); err != nil {
		return nil, toConnect(err)
	}
	if err := s.st.CreateDataset(ctx, ds); err != nil {
		return nil, toConnect(err)
	}
	s.log.InfoContext(ctx, "dataset created", "slug", ds.Slug(), "id", ds.ID)
	return connect.NewResponse(toPBDataset(ds)), nil
}

// GetDataset finds a dataset by slug (or bare code name) or id.
func (s *Service) GetDataset(ctx context.Context, req *connect.Request[datasetsv1.GetDatasetRequest]) (*connect.Response[datasetsv1.Dataset], error) {
	ds, err := s.findDataset(ctx, req.Msg.GetSlug(), req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(toPBDataset(ds)), nil
}

func (s *Service) findDataset(ctx context.Context, slug string, id interface{ GetUuid() []byte }) (*schema.Dataset, error) {
	hasID := id != nil && len(id.GetUuid()) > 0
	switch {
	case slug != "" && hasID:
		return nil, invalid("set either slug or id, not both")
	case hasID:
		u, err := uuid.FromBytes(id.GetUuid())
		if err != nil {
			return nil, invalid("dataset id: %v", err)
		}
		ds, err := s.st.Dataset(ctx, u)
		if errors.Is(err, store.ErrNotFound) {
			return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no such dataset: %s", u))
		}
		return ds, toConnect(err)
	case slug != "":
		if _, code := schema.SplitSlug(slug); !schema.ValidCodeName(code) {
			return nil, invalid("slug %q: want group.code_name", slug)
		}
		ds, err := s.st.DatasetBySlug(ctx, slug)
		if errors.Is(err, store.ErrNotFound) && !containsDot(slug) {
			ds, err = s.byCodeName(ctx, slug)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no such dataset: %s", slug))
		}
		return ds, toConnect(err)
	}
	return nil, invalid("slug or id is required")
}

// byCodeName resolves a bare code name: in the caller's own group first,
// else the one dataset of any group with that code name.
func (s *Service) byCodeName(ctx context.Context, code string) (*schema.Dataset, error) {
	ds, err := s.st.DatasetBySlug(ctx, s.group+"."+code)
	if !errors.Is(err, store.ErrNotFound) {
		return ds, err
	}
	all, err := s.st.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	var found []*schema.Dataset
	for _, d := range all {
		if d.CodeName == code {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return nil, store.ErrNotFound
	case 1:
		return found[0], nil
	}
	return nil, invalid("code name %q is used in %d groups; give the full slug (e.g. %s)", code, len(found), found[0].Slug())
}

func containsDot(s string) bool {
	for i := range len(s) {
		if s[i] == '.' {
			return true
		}
	}
	return false
}

// UpdateDataset changes the fields that are present. Fields may be added at
// any time; removing or changing one needs every collection to be empty.
func (s *Service) UpdateDataset(ctx context.Context, req *connect.Request[datasetsv1.UpdateDatasetRequest]) (*connect.Response[datasetsv1.Dataset], error) {
	m := req.Msg
	id, err := parseID("id", m.GetId())
	if err != nil {
		return nil, err
	}
	ds, err := s.st.Dataset(ctx, id)
	if err != nil {
		return nil, toConnect(err)
	}
	next := *ds
	if m.Name != nil {
		next.Name = m.GetName()
	}
	if m.Summary != nil {
		next.Summary = m.GetSummary()
	}
	if m.Description != nil {
		next.Description = m.GetDescription()
	}
	if m.CodeName != nil {
		if !schema.ValidCodeName(m.GetCodeName()) {
			return nil, invalid("code_name %q: want ^[a-z][a-z0-9_]*$", m.GetCodeName())
		}
		next.CodeName = m.GetCodeName()
	}
	if err := checkText(next.Name, next.Summary, next.Description); err != nil {
		return nil, err
	}
	requireEmpty := false
	if m.GetType() != nil {
		kind, fields, err := fromDatasetType(m.GetType())
		if err != nil {
			return nil, err
		}
		if kind != ds.Kind {
			return nil, invalid("the kind of a dataset cannot change (%v → %v)", ds.Kind, kind)
		}
		// Keep the numbers of fields that stay, so stored datapoints decode.
		for i := range fields {
			if old, ok := ds.Field(fields[i].Name); ok && old.Type == fields[i].Type && old.Array == fields[i].Array {
				fields[i].Number = old.Number
			}
		}
		if err := next.SetFields(fields); err != nil {
			return nil, invalid("%v", err)
		}
		if err := ds.Compatible(&next); err != nil {
			requireEmpty = true
			// While empty, renumber freely: start again from the request order.
			for i := range fields {
				fields[i].Number = 0
			}
			if err := next.SetFields(fields); err != nil {
				return nil, invalid("%v", err)
			}
			if err := next.Validate(); err != nil {
				return nil, invalid("%v", err)
			}
			if uerr := s.st.UpdateDataset(ctx, &next, true); uerr != nil {
				if errors.Is(uerr, store.ErrNotEmpty) {
					return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%v: only allowed while every collection of the dataset is empty", err))
				}
				return nil, toConnect(uerr)
			}
		}
	}
	if !requireEmpty {
		if err := next.Validate(); err != nil {
			return nil, invalid("%v", err)
		}
		if err := s.st.UpdateDataset(ctx, &next, false); err != nil {
			return nil, toConnect(err)
		}
	}
	s.forgetType(id)
	return connect.NewResponse(toPBDataset(&next)), nil
}

// DeleteDataset removes a dataset with all its collections.
func (s *Service) DeleteDataset(ctx context.Context, req *connect.Request[datasetsv1.DeleteDatasetRequest]) (*connect.Response[datasetsv1.DeleteDatasetResponse], error) {
	id, err := parseID("id", req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	if err := s.st.DeleteDataset(ctx, id); err != nil {
		return nil, toConnect(err)
	}
	s.forgetType(id)
	return connect.NewResponse(&datasetsv1.DeleteDatasetResponse{Trashed: false}), nil
}

// ListDatasets lists every dataset with its collections and groups.
func (s *Service) ListDatasets(ctx context.Context, _ *connect.Request[datasetsv1.ListDatasetsRequest]) (*connect.Response[datasetsv1.ListDatasetsResponse], error) {
	all, err := s.st.Datasets(ctx)
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &datasetsv1.ListDatasetsResponse{OwnedDatasets: int64(len(all))}
	groups := map[uuid.UUID]bool{}
	for _, ds := range all {
		pb := toPBDataset(ds)
		cols, err := s.st.Collections(ctx, ds.ID)
		if err != nil {
			return nil, toConnect(err)
		}
		for _, c := range cols {
			info, err := s.collectionInfo(ctx, c, true, true)
			if err != nil {
				return nil, err
			}
			pb.Collections = append(pb.Collections, info)
		}
		resp.Datasets = append(resp.Datasets, pb)
		if !groups[ds.GroupID] {
			groups[ds.GroupID] = true
			resp.Groups = append(resp.Groups, &datasetsv1.DatasetGroup{Id: pbID(ds.GroupID), CodeName: ds.Group, Name: ds.Group})
		}
	}
	return connect.NewResponse(resp), nil
}

func checkText(name, summary, description string) error {
	switch {
	case len(name) < 1 || len(name) > maxDatasetNameLen:
		return invalid("name must have 1 to %d characters", maxDatasetNameLen)
	case len(summary) > maxSummaryLen:
		return invalid("summary is longer than %d characters", maxSummaryLen)
	case len(description) > maxDescriptionLen:
		return invalid("description is longer than %d characters", maxDescriptionLen)
	}
	return nil
}

// fromDatasetType reads a request's schema. The kind's required fields are
// added by the service; if the request lists them they must fit.
func fromDatasetType(t *datasetsv1.DatasetType) (schema.Kind, []schema.Field, error) {
	var kind schema.Kind
	switch t.GetKind() {
	case datasetsv1.DatasetKind_DATASET_KIND_TEMPORAL:
		kind = schema.Temporal
	case datasetsv1.DatasetKind_DATASET_KIND_SPATIOTEMPORAL:
		kind = schema.SpatioTemporal
	default:
		return 0, nil, invalid("type.kind must be temporal or spatiotemporal")
	}
	var fields []schema.Field
	for i, f := range t.GetFields() {
		fd := f.GetDescriptor_()
		if fd == nil {
			return 0, nil, invalid("type.fields[%d]: descriptor is required", i)
		}
		typ, array, err := schema.TypeOf(fd)
		if err != nil {
			return 0, nil, invalid("type.fields[%d]: %v", i, err)
		}
		if schema.IsRequiredFor(kind, fd.GetName()) {
			continue
		}
		if fd.GetLabel() != descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL && fd.GetLabel() != descriptorpb.FieldDescriptorProto_LABEL_REPEATED && fd.Label != nil {
			return 0, nil, invalid("type.fields[%d] %q: label must be optional or repeated", i, fd.GetName())
		}
		fields = append(fields, schema.Field{Name: fd.GetName(), Type: typ, Array: array,
			Description: f.GetAnnotation().GetDescription(), Example: f.GetAnnotation().GetExampleValue()})
	}
	return kind, fields, nil
}

// ToDatasetType is the request-side schema of ds, as clients send it.
func ToDatasetType(ds *schema.Dataset) *datasetsv1.DatasetType {
	fd := ds.FileDescriptor()
	t := &datasetsv1.DatasetType{Kind: pbKind(ds.Kind)}
	for i, f := range fd.GetMessageType()[0].GetField() {
		f.Number, f.JsonName = nil, nil
		t.Fields = append(t.Fields, &datasetsv1.Field{Descriptor_: f, Annotation: &datasetsv1.FieldAnnotation{
			Description: ds.Fields[i].Description, ExampleValue: ds.Fields[i].Example}})
	}
	return t
}

func pbKind(k schema.Kind) datasetsv1.DatasetKind {
	if k == schema.SpatioTemporal {
		return datasetsv1.DatasetKind_DATASET_KIND_SPATIOTEMPORAL
	}
	return datasetsv1.DatasetKind_DATASET_KIND_TEMPORAL
}

func toPBDataset(ds *schema.Dataset) *datasetsv1.Dataset {
	ann := make([]*datasetsv1.FieldAnnotation, len(ds.Fields))
	for i, f := range ds.Fields {
		ann[i] = &datasetsv1.FieldAnnotation{Description: f.Description, ExampleValue: f.Example}
	}
	return &datasetsv1.Dataset{
		Id:      pbID(ds.ID),
		GroupId: pbID(ds.GroupID),
		Type: &datasetsv1.AnnotatedType{
			DescriptorSet:    &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{ds.FileDescriptor()}},
			TypeUrl:          ds.TypeURL(),
			FieldAnnotations: ann,
			Kind:             pbKind(ds.Kind),
		},
		CodeName:    ds.CodeName,
		Name:        ds.Name,
		Summary:     ds.Summary,
		Description: ds.Description,
		Permissions: []datasetsv1.DatasetPermission{
			datasetsv1.DatasetPermission_DATASET_PERMISSION_ACCESS_DATA,
			datasetsv1.DatasetPermission_DATASET_PERMISSION_WRITE_DATA,
			datasetsv1.DatasetPermission_DATASET_PERMISSION_EDIT,
		},
		Visibility:   datasetsv1.Visibility_VISIBILITY_PRIVATE,
		Slug:         ds.Slug(),
		TypeEditable: true,
	}
}

// FromPBDataset rebuilds a dataset from its API form (e.g. in a remote client).
func FromPBDataset(pb *datasetsv1.Dataset) (*schema.Dataset, error) {
	t := pb.GetType()
	files := t.GetDescriptorSet().GetFile()
	if len(files) == 0 || len(files[0].GetMessageType()) == 0 {
		return nil, fmt.Errorf("dataset %s: type has no message", pb.GetSlug())
	}
	kind := schema.Temporal
	if t.GetKind() == datasetsv1.DatasetKind_DATASET_KIND_SPATIOTEMPORAL {
		kind = schema.SpatioTemporal
	}
	fields, err := schema.FromDescriptor(kind, files[0].GetMessageType()[0])
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", pb.GetSlug(), err)
	}
	for i := range fields {
		if i < len(t.GetFieldAnnotations()) {
			fields[i].Description = t.GetFieldAnnotations()[i].GetDescription()
			fields[i].Example = t.GetFieldAnnotations()[i].GetExampleValue()
		}
	}
	id, _ := uuid.FromBytes(pb.GetId().GetUuid())
	gid, _ := uuid.FromBytes(pb.GetGroupId().GetUuid())
	group, _ := schema.SplitSlug(pb.GetSlug())
	return &schema.Dataset{ID: id, GroupID: gid, Group: group, CodeName: pb.GetCodeName(), Name: pb.GetName(),
		Summary: pb.GetSummary(), Description: pb.GetDescription(), Kind: kind, Fields: fields}, nil
}
