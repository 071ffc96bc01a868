package proto_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	datasetsv1 "github.com/granaryhq/granary/proto/gen/datasets/v1"
	"github.com/granaryhq/granary/proto/gen/datasets/v1/datasetsv1connect"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
)

// Referencing one type per package keeps the imports (and thus the
// registration of every file of that package) explicit.
var (
	_ = tileboxv1.File_tilebox_v1_id_proto
	_ = datasetsv1.File_datasets_v1_core_proto
)

// The tables below transcribe /work/shared/spec/datasets-api.md.

// files: spec section 1.1 (path -> package).
var files = []struct{ path, pkg string }{
	{"tilebox/v1/id.proto", "tilebox.v1"},
	{"tilebox/v1/query.proto", "tilebox.v1"},
	{"datasets/v1/well_known_types.proto", "datasets.v1"},
	{"datasets/v1/dataset_type.proto", "datasets.v1"},
	{"datasets/v1/core.proto", "datasets.v1"},
	{"datasets/v1/datasets.proto", "datasets.v1"},
	{"datasets/v1/collections.proto", "datasets.v1"},
	{"datasets/v1/data_access.proto", "datasets.v1"},
	{"datasets/v1/data_ingestion.proto", "datasets.v1"},
	{"datasets/v1/timeseries.proto", "datasets.v1"},
}

const (
	ts  = ".google.protobuf.Timestamp"
	dur = ".google.protobuf.Duration"
	id  = ".tilebox.v1.ID"
)

// message describes one message. Each field is "<number> <name> <type>
// <presence>", where type is a scalar kind name or a fully-qualified
// message/enum name with a leading dot, and presence is implicit, explicit
// or repeated. The field list must be complete.
type message struct {
	file, name string
	fields     []string
	reserved   []int // reserved field numbers
	absent     []int // numbers that must be neither declared nor reserved
}

var messages = []message{
	// 3.1 - 3.4
	{file: "tilebox/v1/id.proto", name: "tilebox.v1.ID", fields: []string{
		"1 uuid bytes implicit"}},
	{file: "tilebox/v1/query.proto", name: "tilebox.v1.TimeInterval", fields: []string{
		"1 start_time " + ts + " explicit",
		"2 end_time " + ts + " explicit",
		"3 start_exclusive bool implicit",
		"4 end_inclusive bool implicit"}},
	{file: "tilebox/v1/query.proto", name: "tilebox.v1.IDInterval", fields: []string{
		"1 start_id " + id + " explicit",
		"2 end_id " + id + " explicit",
		"3 start_exclusive bool implicit",
		"4 end_inclusive bool implicit"}},
	{file: "tilebox/v1/query.proto", name: "tilebox.v1.Pagination", fields: []string{
		"1 limit int64 explicit",
		"2 starting_after " + id + " explicit"}},

	// 4
	{file: "datasets/v1/well_known_types.proto", name: "datasets.v1.UUID", fields: []string{
		"1 uuid bytes implicit"}},
	{file: "datasets/v1/well_known_types.proto", name: "datasets.v1.Vec3", fields: []string{
		"1 x double implicit", "2 y double implicit", "3 z double implicit"}},
	{file: "datasets/v1/well_known_types.proto", name: "datasets.v1.Quaternion", fields: []string{
		"1 q1 double implicit", "2 q2 double implicit", "3 q3 double implicit", "4 q4 double implicit"}},
	{file: "datasets/v1/well_known_types.proto", name: "datasets.v1.LatLon", fields: []string{
		"1 latitude double implicit", "2 longitude double implicit"}},
	{file: "datasets/v1/well_known_types.proto", name: "datasets.v1.LatLonAlt", fields: []string{
		"1 latitude double implicit", "2 longitude double implicit", "3 altitude double implicit"}},
	{file: "datasets/v1/well_known_types.proto", name: "datasets.v1.Geometry", fields: []string{
		"1 wkb bytes implicit"}},

	// 5
	{file: "datasets/v1/core.proto", name: "datasets.v1.Any", fields: []string{
		"1 type_url string implicit",
		"2 value bytes implicit"}},
	{file: "datasets/v1/core.proto", name: "datasets.v1.RepeatedAny", fields: []string{
		"1 type_url string implicit",
		"2 value bytes repeated"}},
	{file: "datasets/v1/core.proto", name: "datasets.v1.Collection", reserved: []int{1}, fields: []string{
		"2 name string implicit",
		"3 id " + id + " explicit"}},
	{file: "datasets/v1/core.proto", name: "datasets.v1.CollectionInfo", fields: []string{
		"1 collection .datasets.v1.Collection explicit",
		"2 availability .tilebox.v1.TimeInterval explicit",
		"3 count uint64 explicit"}},
	{file: "datasets/v1/core.proto", name: "datasets.v1.Dataset", absent: []int{9}, fields: []string{
		"1 id " + id + " explicit",
		"2 group_id " + id + " explicit",
		"3 type .datasets.v1.AnnotatedType explicit",
		"4 code_name string implicit",
		"5 name string implicit",
		"6 summary string implicit",
		"7 icon string implicit",
		"8 description string implicit",
		"10 permissions .datasets.v1.DatasetPermission repeated",
		"11 visibility .datasets.v1.Visibility implicit",
		"12 slug string implicit",
		"13 type_editable bool implicit",
		"14 collections .datasets.v1.CollectionInfo repeated"}},
	{file: "datasets/v1/core.proto", name: "datasets.v1.DatasetGroup", fields: []string{
		"1 id " + id + " explicit",
		"2 parent_id " + id + " explicit",
		"3 code_name string implicit",
		"4 name string implicit",
		"5 icon string implicit"}},

	// 6
	{file: "datasets/v1/dataset_type.proto", name: "datasets.v1.Field", absent: []int{3}, fields: []string{
		"1 descriptor .google.protobuf.FieldDescriptorProto explicit",
		"2 annotation .datasets.v1.FieldAnnotation explicit"}},
	{file: "datasets/v1/dataset_type.proto", name: "datasets.v1.FieldAnnotation", fields: []string{
		"1 description string implicit",
		"2 example_value string implicit",
		"3 source_json_pointer string explicit",
		"4 queryable bool implicit",
		"5 json_schema_ref string explicit",
		"6 roles .datasets.v1.FieldRole repeated"}},
	{file: "datasets/v1/dataset_type.proto", name: "datasets.v1.DatasetType", fields: []string{
		"1 kind .datasets.v1.DatasetKind implicit",
		"2 fields .datasets.v1.Field repeated"}},
	{file: "datasets/v1/dataset_type.proto", name: "datasets.v1.AnnotatedType", reserved: []int{3}, fields: []string{
		"1 descriptor_set .google.protobuf.FileDescriptorSet explicit",
		"2 type_url string implicit",
		"4 field_annotations .datasets.v1.FieldAnnotation repeated",
		"5 kind .datasets.v1.DatasetKind implicit"}},
	{file: "datasets/v1/dataset_type.proto", name: "datasets.v1.TemporalDatapoint", fields: []string{
		"1 time " + ts + " explicit",
		"2 id " + id + " explicit",
		"3 ingestion_time " + ts + " explicit"}},
	{file: "datasets/v1/dataset_type.proto", name: "datasets.v1.SpatioTemporalDatapoint", fields: []string{
		"1 time " + ts + " explicit",
		"2 id " + id + " explicit",
		"3 ingestion_time " + ts + " explicit",
		"4 geometry .datasets.v1.Geometry explicit"}},

	// 7.1
	{file: "datasets/v1/datasets.proto", name: "datasets.v1.CreateDatasetRequest", fields: []string{
		"1 name string implicit",
		"2 type .datasets.v1.DatasetType explicit",
		"3 summary string implicit",
		"4 code_name string implicit",
		"5 description string implicit"}},
	{file: "datasets/v1/datasets.proto", name: "datasets.v1.GetDatasetRequest", fields: []string{
		"1 slug string implicit",
		"2 id " + id + " explicit"}},
	{file: "datasets/v1/datasets.proto", name: "datasets.v1.UpdateDatasetRequest", fields: []string{
		"1 id " + id + " explicit",
		"2 name string explicit",
		"3 type .datasets.v1.DatasetType explicit",
		"4 summary string explicit",
		"5 code_name string explicit",
		"6 description string explicit"}},
	{file: "datasets/v1/datasets.proto", name: "datasets.v1.DeleteDatasetRequest", fields: []string{
		"1 id " + id + " explicit"}},
	{file: "datasets/v1/datasets.proto", name: "datasets.v1.DeleteDatasetResponse", fields: []string{
		"1 trashed bool implicit"}},
	{file: "datasets/v1/datasets.proto", name: "datasets.v1.ListDatasetsRequest", fields: []string{
		"1 client_info .datasets.v1.ClientInfo explicit"}},
	{file: "datasets/v1/datasets.proto", name: "datasets.v1.ClientInfo", fields: []string{
		"1 name string implicit",
		"2 environment string implicit",
		"3 packages .datasets.v1.Package repeated"}},
	{file: "datasets/v1/datasets.proto", name: "datasets.v1.Package", fields: []string{
		"1 name string implicit",
		"2 version string implicit"}},
	{file: "datasets/v1/datasets.proto", name: "datasets.v1.ListDatasetsResponse", fields: []string{
		"1 datasets .datasets.v1.Dataset repeated",
		"2 groups .datasets.v1.DatasetGroup repeated",
		"3 server_message string implicit",
		"4 owned_datasets int64 implicit",
		"5 maximum_owned_datasets int64 explicit"}},

	// 7.2
	{file: "datasets/v1/collections.proto", name: "datasets.v1.CreateCollectionRequest", fields: []string{
		"1 dataset_id " + id + " explicit",
		"2 name string implicit"}},
	{file: "datasets/v1/collections.proto", name: "datasets.v1.GetCollectionByNameRequest", fields: []string{
		"1 collection_name string implicit",
		"2 with_availability bool implicit",
		"3 with_count bool implicit",
		"4 dataset_id " + id + " explicit"}},
	{file: "datasets/v1/collections.proto", name: "datasets.v1.DeleteCollectionRequest", fields: []string{
		"1 collection_id " + id + " explicit",
		"2 dataset_id " + id + " explicit"}},
	{file: "datasets/v1/collections.proto", name: "datasets.v1.DeleteCollectionResponse"},
	{file: "datasets/v1/collections.proto", name: "datasets.v1.ListCollectionsRequest", fields: []string{
		"1 dataset_id " + id + " explicit",
		"2 with_availability bool implicit",
		"3 with_count bool implicit"}},
	{file: "datasets/v1/collections.proto", name: "datasets.v1.ListCollectionsResponse", fields: []string{
		"1 data .datasets.v1.CollectionInfo repeated",
		"2 owned_collections int64 implicit",
		"3 maximum_owned_collections int64 explicit"}},

	// 7.3
	{file: "datasets/v1/data_access.proto", name: "datasets.v1.QueryByIDRequest", fields: []string{
		"1 collection_ids " + id + " repeated",
		"2 id " + id + " explicit",
		"3 skip_data bool implicit",
		"4 dataset_id " + id + " explicit"}},
	{file: "datasets/v1/data_access.proto", name: "datasets.v1.QueryRequest", fields: []string{
		"1 collection_ids " + id + " repeated",
		"2 filters .datasets.v1.QueryFilters explicit",
		"3 page .tilebox.v1.Pagination explicit",
		"4 skip_data bool implicit",
		"5 dataset_id " + id + " explicit"}},
	{file: "datasets/v1/data_access.proto", name: "datasets.v1.QueryFilters", fields: []string{
		"1 time_interval .tilebox.v1.TimeInterval explicit",
		"2 datapoint_interval .tilebox.v1.IDInterval explicit",
		"3 spatial_extent .datasets.v1.SpatialFilter explicit",
		"4 expressions .datasets.v1.FilterExpression repeated"}},
	{file: "datasets/v1/data_access.proto", name: "datasets.v1.FilterExpression", fields: []string{
		"1 logical .datasets.v1.LogicalExpression explicit",
		"2 comparison .datasets.v1.FieldComparison explicit",
		"3 is_null .datasets.v1.FieldNullCheck explicit"}},
	{file: "datasets/v1/data_access.proto", name: "datasets.v1.LogicalExpression", fields: []string{
		"1 operator .datasets.v1.LogicalOperator implicit",
		"2 operands .datasets.v1.FilterExpression repeated"}},
	{file: "datasets/v1/data_access.proto", name: "datasets.v1.FieldComparison", fields: []string{
		"1 field_name string implicit",
		"2 operator .datasets.v1.FieldComparisonOperator implicit",
		"3 value .datasets.v1.FieldQueryValue explicit"}},
	{file: "datasets/v1/data_access.proto", name: "datasets.v1.FieldNullCheck", fields: []string{
		"1 field_name string implicit"}},
	{file: "datasets/v1/data_access.proto", name: "datasets.v1.FieldQueryValue", fields: []string{
		"1 bool_value bool explicit",
		"2 int64_value int64 explicit",
		"3 uint64_value uint64 explicit",
		"4 double_value double explicit",
		"5 string_value string explicit",
		"6 timestamp_value " + ts + " explicit",
		"7 duration_value " + dur + " explicit",
		"8 enum_name string explicit",
		"9 bytes_value bytes explicit"}},
	{file: "datasets/v1/data_access.proto", name: "datasets.v1.SpatialFilter", fields: []string{
		"1 geometry .datasets.v1.Geometry explicit",
		"2 mode .datasets.v1.SpatialFilterMode implicit",
		"3 coordinate_system .datasets.v1.SpatialCoordinateSystem implicit"}},
	{file: "datasets/v1/data_access.proto", name: "datasets.v1.QueryResultPage", fields: []string{
		"1 data .datasets.v1.RepeatedAny explicit",
		"2 next_page .tilebox.v1.Pagination explicit"}},

	// 7.4
	{file: "datasets/v1/data_ingestion.proto", name: "datasets.v1.IngestRequest", fields: []string{
		"1 collection_id " + id + " explicit",
		"2 values bytes repeated",
		"3 allow_existing bool implicit"}},
	{file: "datasets/v1/data_ingestion.proto", name: "datasets.v1.IngestResponse", fields: []string{
		"1 num_created int64 implicit",
		"2 num_existing int64 implicit",
		"3 datapoint_ids " + id + " repeated"}},
	{file: "datasets/v1/data_ingestion.proto", name: "datasets.v1.DeleteRequest", fields: []string{
		"1 collection_id " + id + " explicit",
		"2 datapoint_ids " + id + " repeated"}},
	{file: "datasets/v1/data_ingestion.proto", name: "datasets.v1.DeleteResponse", fields: []string{
		"1 num_deleted int64 implicit"}},

	// 10
	{file: "datasets/v1/timeseries.proto", name: "datasets.v1.TimeseriesDatasetChunk", fields: []string{
		"1 dataset_id " + id + " explicit",
		"2 collection_id " + id + " explicit",
		"3 time_interval .tilebox.v1.TimeInterval explicit",
		"4 datapoint_interval .tilebox.v1.IDInterval explicit",
		"5 branch_factor int32 implicit",
		"6 chunk_size int32 implicit",
		"7 datapoints_per_365_days int64 implicit"}},
	{file: "datasets/v1/timeseries.proto", name: "datasets.v1.TimeChunk", fields: []string{
		"1 time_interval .tilebox.v1.TimeInterval explicit",
		"2 chunk_size " + dur + " explicit"}},
}

// enums: "NAME=number" for every value, complete.
var enums = []struct {
	file, name string
	values     []string
}{
	{"tilebox/v1/query.proto", "tilebox.v1.SortDirection", []string{
		"SORT_DIRECTION_UNSPECIFIED=0", "SORT_DIRECTION_ASCENDING=1", "SORT_DIRECTION_DESCENDING=2"}},
	{"datasets/v1/well_known_types.proto", "datasets.v1.FlightDirection", []string{
		"FLIGHT_DIRECTION_UNSPECIFIED=0", "FLIGHT_DIRECTION_ASCENDING=1", "FLIGHT_DIRECTION_DESCENDING=2"}},
	{"datasets/v1/well_known_types.proto", "datasets.v1.ObservationDirection", []string{
		"OBSERVATION_DIRECTION_UNSPECIFIED=0", "OBSERVATION_DIRECTION_LEFT=1", "OBSERVATION_DIRECTION_RIGHT=2"}},
	{"datasets/v1/well_known_types.proto", "datasets.v1.OpendataProvider", []string{
		"OPENDATA_PROVIDER_UNSPECIFIED=0", "OPENDATA_PROVIDER_ASF=1",
		"OPENDATA_PROVIDER_COPERNICUS_DATASPACE=2", "OPENDATA_PROVIDER_UMBRA=3"}},
	{"datasets/v1/well_known_types.proto", "datasets.v1.ProcessingLevel", []string{
		"PROCESSING_LEVEL_UNSPECIFIED=0", "PROCESSING_LEVEL_L0=12", "PROCESSING_LEVEL_L1=10",
		"PROCESSING_LEVEL_L1A=1", "PROCESSING_LEVEL_L1B=2", "PROCESSING_LEVEL_L1C=3",
		"PROCESSING_LEVEL_L2=4", "PROCESSING_LEVEL_L2A=5", "PROCESSING_LEVEL_L2B=6",
		"PROCESSING_LEVEL_L3=7", "PROCESSING_LEVEL_L3A=8", "PROCESSING_LEVEL_L4=9",
		"PROCESSING_LEVEL_NOT_APPLICABLE=11"}},
	{"datasets/v1/well_known_types.proto", "datasets.v1.Polarization", []string{
		"POLARIZATION_UNSPECIFIED=0", "POLARIZATION_HH=1", "POLARIZATION_HV=2", "POLARIZATION_VH=3",
		"POLARIZATION_VV=4", "POLARIZATION_DUAL_HH=5", "POLARIZATION_DUAL_HV=6", "POLARIZATION_DUAL_VH=7",
		"POLARIZATION_DUAL_VV=8", "POLARIZATION_HH_HV=9", "POLARIZATION_VV_VH=10"}},
	{"datasets/v1/well_known_types.proto", "datasets.v1.AcquisitionMode", []string{
		"ACQUISITION_MODE_UNSPECIFIED=0", "ACQUISITION_MODE_SM=1", "ACQUISITION_MODE_EW=2",
		"ACQUISITION_MODE_IW=3", "ACQUISITION_MODE_WV=4", "ACQUISITION_MODE_SPOTLIGHT=10",
		"ACQUISITION_MODE_NOBS=20", "ACQUISITION_MODE_EOBS=21", "ACQUISITION_MODE_DASC=22",
		"ACQUISITION_MODE_ABSR=23", "ACQUISITION_MODE_VIC=24", "ACQUISITION_MODE_RAW=25",
		"ACQUISITION_MODE_TST=26"}},
	{"datasets/v1/dataset_type.proto", "datasets.v1.DatasetKind", []string{
		"DATASET_KIND_UNSPECIFIED=0", "DATASET_KIND_TEMPORAL=1", "DATASET_KIND_SPATIOTEMPORAL=2"}},
	{"datasets/v1/dataset_type.proto", "datasets.v1.FieldRole", []string{
		"FIELD_ROLE_UNSPECIFIED=0", "FIELD_ROLE_PRIMARY_TITLE=1"}},
	{"datasets/v1/core.proto", "datasets.v1.DatasetPermission", []string{
		"DATASET_PERMISSION_UNSPECIFIED=0", "DATASET_PERMISSION_ACCESS_DATA=1",
		"DATASET_PERMISSION_WRITE_DATA=2", "DATASET_PERMISSION_EDIT=3"}},
	{"datasets/v1/core.proto", "datasets.v1.Visibility", []string{
		"VISIBILITY_UNSPECIFIED=0", "VISIBILITY_PRIVATE=1", "VISIBILITY_SHARED_WITH_ME=2", "VISIBILITY_PUBLIC=3"}},
	{"datasets/v1/data_access.proto", "datasets.v1.LogicalOperator", []string{
		"LOGICAL_OPERATOR_UNSPECIFIED=0", "LOGICAL_OPERATOR_AND=1", "LOGICAL_OPERATOR_OR=2", "LOGICAL_OPERATOR_NOT=3"}},
	{"datasets/v1/data_access.proto", "datasets.v1.FieldComparisonOperator", []string{
		"FIELD_COMPARISON_OPERATOR_UNSPECIFIED=0", "FIELD_COMPARISON_OPERATOR_EQUAL=1",
		"FIELD_COMPARISON_OPERATOR_NOT_EQUAL=2", "FIELD_COMPARISON_OPERATOR_LESS_THAN=3",
		"FIELD_COMPARISON_OPERATOR_LESS_THAN_OR_EQUAL=4", "FIELD_COMPARISON_OPERATOR_GREATER_THAN=5",
		"FIELD_COMPARISON_OPERATOR_GREATER_THAN_OR_EQUAL=6"}},
	{"datasets/v1/data_access.proto", "datasets.v1.SpatialFilterMode", []string{
		"SPATIAL_FILTER_MODE_UNSPECIFIED=0", "SPATIAL_FILTER_MODE_INTERSECTS=1", "SPATIAL_FILTER_MODE_CONTAINS=2"}},
	{"datasets/v1/data_access.proto", "datasets.v1.SpatialCoordinateSystem", []string{
		"SPATIAL_COORDINATE_SYSTEM_UNSPECIFIED=0", "SPATIAL_COORDINATE_SYSTEM_CARTESIAN=1",
		"SPATIAL_COORDINATE_SYSTEM_SPHERICAL=2"}},
}

// rpcs: spec section 2.1, complete. procedure is the generated connect
// constant, which must equal the HTTP path.
var rpcs = []struct {
	file, service, method, input, output, procedure string
}{
	{"datasets/v1/datasets.proto", "datasets.v1.DatasetService", "CreateDataset", "datasets.v1.CreateDatasetRequest", "datasets.v1.Dataset", datasetsv1connect.DatasetServiceCreateDatasetProcedure},
	{"datasets/v1/datasets.proto", "datasets.v1.DatasetService", "GetDataset", "datasets.v1.GetDatasetRequest", "datasets.v1.Dataset", datasetsv1connect.DatasetServiceGetDatasetProcedure},
	{"datasets/v1/datasets.proto", "datasets.v1.DatasetService", "UpdateDataset", "datasets.v1.UpdateDatasetRequest", "datasets.v1.Dataset", datasetsv1connect.DatasetServiceUpdateDatasetProcedure},
	{"datasets/v1/datasets.proto", "datasets.v1.DatasetService", "DeleteDataset", "datasets.v1.DeleteDatasetRequest", "datasets.v1.DeleteDatasetResponse", datasetsv1connect.DatasetServiceDeleteDatasetProcedure},
	{"datasets/v1/datasets.proto", "datasets.v1.DatasetService", "ListDatasets", "datasets.v1.ListDatasetsRequest", "datasets.v1.ListDatasetsResponse", datasetsv1connect.DatasetServiceListDatasetsProcedure},
	{"datasets/v1/collections.proto", "datasets.v1.CollectionService", "CreateCollection", "datasets.v1.CreateCollectionRequest", "datasets.v1.CollectionInfo", datasetsv1connect.CollectionServiceCreateCollectionProcedure},
	{"datasets/v1/collections.proto", "datasets.v1.CollectionService", "GetCollectionByName", "datasets.v1.GetCollectionByNameRequest", "datasets.v1.CollectionInfo", datasetsv1connect.CollectionServiceGetCollectionByNameProcedure},
	{"datasets/v1/collections.proto", "datasets.v1.CollectionService", "DeleteCollection", "datasets.v1.DeleteCollectionRequest", "datasets.v1.DeleteCollectionResponse", datasetsv1connect.CollectionServiceDeleteCollectionProcedure},
	{"datasets/v1/collections.proto", "datasets.v1.CollectionService", "ListCollections", "datasets.v1.ListCollectionsRequest", "datasets.v1.ListCollectionsResponse", datasetsv1connect.CollectionServiceListCollectionsProcedure},
	{"datasets/v1/data_access.proto", "datasets.v1.DataAccessService", "QueryByID", "datasets.v1.QueryByIDRequest", "datasets.v1.Any", datasetsv1connect.DataAccessServiceQueryByIDProcedure},
	{"datasets/v1/data_access.proto", "datasets.v1.DataAccessService", "Query", "datasets.v1.QueryRequest", "datasets.v1.QueryResultPage", datasetsv1connect.DataAccessServiceQueryProcedure},
	{"datasets/v1/data_ingestion.proto", "datasets.v1.DataIngestionService", "Ingest", "datasets.v1.IngestRequest", "datasets.v1.IngestResponse", datasetsv1connect.DataIngestionServiceIngestProcedure},
	{"datasets/v1/data_ingestion.proto", "datasets.v1.DataIngestionService", "Delete", "datasets.v1.DeleteRequest", "datasets.v1.DeleteResponse", datasetsv1connect.DataIngestionServiceDeleteProcedure},
}

func findFile(t *testing.T, path string) protoreflect.FileDescriptor {
	t.Helper()
	fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
	if err != nil {
		t.Fatalf("file %q not registered: %v", path, err)
	}
	return fd
}

func TestFiles(t *testing.T) {
	for _, tc := range files {
		t.Run(tc.path, func(t *testing.T) {
			fd := findFile(t, tc.path)
			if got := string(fd.Package()); got != tc.pkg {
				t.Errorf("package = %q, want %q", got, tc.pkg)
			}
			if fd.Syntax() != protoreflect.Editions {
				t.Errorf("syntax = %v, want editions", fd.Syntax())
			}
			fdp := protodesc.ToFileDescriptorProto(fd)
			if fdp.GetEdition() != descriptorpb.Edition_EDITION_2023 {
				t.Errorf("edition = %v, want EDITION_2023", fdp.GetEdition())
			}
			for _, dep := range fdp.GetDependency() {
				if strings.HasPrefix(dep, "buf/") {
					t.Errorf("unexpected import %q", dep)
				}
			}
		})
	}
}

// Dataset schemas delivered at runtime import well_known_types.proto and
// expect Timestamp/Duration to be reachable through it.
func TestWellKnownTypesImports(t *testing.T) {
	fd := findFile(t, "datasets/v1/well_known_types.proto")
	imports := fd.Imports()
	var got []string
	for i := range imports.Len() {
		got = append(got, imports.Get(i).Path())
	}
	for _, want := range []string{"google/protobuf/duration.proto", "google/protobuf/timestamp.proto"} {
		if !slices.Contains(got, want) {
			t.Errorf("imports %v, missing %q", got, want)
		}
	}
}

// Every top-level message and enum of our files is listed in the tables,
// so nothing extra (or misplaced) sneaks in.
func TestNoUnlistedTypes(t *testing.T) {
	want := map[string]string{}
	for _, m := range messages {
		want[m.name] = m.file
	}
	for _, e := range enums {
		want[e.name] = e.file
	}
	seen := map[string]bool{}
	for _, f := range files {
		fd := findFile(t, f.path)
		for i := range fd.Messages().Len() {
			name := string(fd.Messages().Get(i).FullName())
			seen[name] = true
			if wf, ok := want[name]; !ok || wf != f.path {
				t.Errorf("message %s in %s is not expected there (spec file %q)", name, f.path, wf)
			}
		}
		for i := range fd.Enums().Len() {
			name := string(fd.Enums().Get(i).FullName())
			seen[name] = true
			if wf, ok := want[name]; !ok || wf != f.path {
				t.Errorf("enum %s in %s is not expected there (spec file %q)", name, f.path, wf)
			}
		}
		if n := fd.Extensions().Len(); n != 0 {
			t.Errorf("%s declares %d extensions, want 0", f.path, n)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s not declared in any file", name)
		}
	}
}

func TestMessages(t *testing.T) {
	for _, m := range messages {
		t.Run(m.name, func(t *testing.T) {
			mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(m.name))
			if err != nil {
				t.Fatalf("no Go type registered: %v", err)
			}
			md := mt.Descriptor()
			if got := md.ParentFile().Path(); got != m.file {
				t.Errorf("declared in %q, want %q", got, m.file)
			}
			if n := md.Oneofs().Len(); n != 0 {
				t.Errorf("has %d oneofs, want none", n)
			}
			if n := md.Fields().Len(); n != len(m.fields) {
				t.Errorf("has %d fields, want %d", n, len(m.fields))
			}
			for _, spec := range m.fields {
				checkField(t, md, spec)
			}

			var reserved []int
			rr := md.ReservedRanges()
			for i := range rr.Len() {
				for n := rr.Get(i)[0]; n < rr.Get(i)[1]; n++ { // end exclusive
					reserved = append(reserved, int(n))
				}
			}
			if !slices.Equal(reserved, m.reserved) {
				t.Errorf("reserved numbers = %v, want %v", reserved, m.reserved)
			}
			if n := md.ReservedNames().Len(); n != 0 {
				t.Errorf("has %d reserved names, want none", n)
			}
			for _, n := range m.absent {
				if md.Fields().ByNumber(protoreflect.FieldNumber(n)) != nil {
					t.Errorf("field number %d must not be declared", n)
				}
			}
		})
	}
}

func checkField(t *testing.T, md protoreflect.MessageDescriptor, spec string) {
	t.Helper()
	parts := strings.Fields(spec)
	if len(parts) != 4 {
		t.Fatalf("bad table entry %q", spec)
	}
	num, err := strconv.Atoi(parts[0])
	if err != nil {
		t.Fatalf("bad table entry %q", spec)
	}
	name, typ, presence := parts[1], parts[2], parts[3]

	fd := md.Fields().ByNumber(protoreflect.FieldNumber(num))
	if fd == nil {
		t.Errorf("field %d (%s) missing", num, name)
		return
	}
	prefix := fmt.Sprintf("field %d", num)
	if string(fd.Name()) != name {
		t.Errorf("%s: name = %q, want %q", prefix, fd.Name(), name)
	}
	if fd.IsMap() || fd.IsExtension() {
		t.Errorf("%s: unexpected map/extension", prefix)
	}

	var gotType string
	switch fd.Kind() {
	case protoreflect.MessageKind:
		gotType = "." + string(fd.Message().FullName())
	case protoreflect.EnumKind:
		gotType = "." + string(fd.Enum().FullName())
	default:
		gotType = fd.Kind().String()
	}
	if gotType != typ {
		t.Errorf("%s (%s): type = %s, want %s", prefix, name, gotType, typ)
	}

	var gotPresence string
	switch {
	case fd.Cardinality() == protoreflect.Repeated:
		gotPresence = "repeated"
	case fd.HasPresence():
		gotPresence = "explicit"
	default:
		gotPresence = "implicit"
	}
	if gotPresence != presence {
		t.Errorf("%s (%s): presence = %s, want %s", prefix, name, gotPresence, presence)
	}
}

func TestEnums(t *testing.T) {
	for _, e := range enums {
		t.Run(e.name, func(t *testing.T) {
			et, err := protoregistry.GlobalTypes.FindEnumByName(protoreflect.FullName(e.name))
			if err != nil {
				t.Fatalf("no Go type registered: %v", err)
			}
			ed := et.Descriptor()
			if got := ed.ParentFile().Path(); got != e.file {
				t.Errorf("declared in %q, want %q", got, e.file)
			}
			if ed.IsClosed() {
				t.Errorf("enum is closed, want open")
			}
			if n := ed.Values().Len(); n != len(e.values) {
				t.Errorf("has %d values, want %d", n, len(e.values))
			}
			for _, v := range e.values {
				name, num, _ := strings.Cut(v, "=")
				want, err := strconv.Atoi(num)
				if err != nil {
					t.Fatalf("bad table entry %q", v)
				}
				vd := ed.Values().ByName(protoreflect.Name(name))
				if vd == nil {
					t.Errorf("value %s missing", name)
					continue
				}
				if int(vd.Number()) != want {
					t.Errorf("%s = %d, want %d", name, vd.Number(), want)
				}
			}
		})
	}
}

func TestServices(t *testing.T) {
	perService := map[string]int{}
	for _, r := range rpcs {
		perService[r.service]++
	}
	for _, r := range rpcs {
		t.Run(r.service+"/"+r.method, func(t *testing.T) {
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(r.service))
			if err != nil {
				t.Fatalf("service not registered: %v", err)
			}
			sd, ok := d.(protoreflect.ServiceDescriptor)
			if !ok {
				t.Fatalf("%s is a %T, not a service", r.service, d)
			}
			if got := sd.ParentFile().Path(); got != r.file {
				t.Errorf("declared in %q, want %q", got, r.file)
			}
			if n := sd.Methods().Len(); n != perService[r.service] {
				t.Errorf("service has %d methods, want %d", n, perService[r.service])
			}
			m := sd.Methods().ByName(protoreflect.Name(r.method))
			if m == nil {
				t.Fatalf("method %s missing", r.method)
			}
			if got := string(m.Input().FullName()); got != r.input {
				t.Errorf("input = %s, want %s", got, r.input)
			}
			if got := string(m.Output().FullName()); got != r.output {
				t.Errorf("output = %s, want %s", got, r.output)
			}
			if m.IsStreamingClient() || m.IsStreamingServer() {
				t.Errorf("method is streaming, want unary")
			}
			if want := "/" + r.service + "/" + r.method; r.procedure != want {
				t.Errorf("connect procedure = %q, want %q", r.procedure, want)
			}
		})
	}

	// Only the four services of section 2.1 exist in our files.
	var services []string
	for _, f := range files {
		fd := findFile(t, f.path)
		for i := range fd.Services().Len() {
			services = append(services, string(fd.Services().Get(i).FullName()))
		}
	}
	slices.Sort(services)
	want := []string{
		"datasets.v1.CollectionService", "datasets.v1.DataAccessService",
		"datasets.v1.DataIngestionService", "datasets.v1.DatasetService",
	}
	if !slices.Equal(services, want) {
		t.Errorf("services = %v, want %v", services, want)
	}
}
