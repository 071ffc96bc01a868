// Package store defines the storage interface behind granary's datasets API:
// datasets, their collections, and datapoints kept as encoded protobuf bytes
// under their deterministic IDs. Implementations: store/sqlite (embedded).
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/schema"
)

// Errors implementations wrap, so that callers can map them to API codes.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrNotEmpty is returned when an operation needs empty collections.
	ErrNotEmpty = errors.New("dataset holds datapoints")
)

// ID is a datapoint ID: 6 bytes of big-endian unix milliseconds of the
// datapoint's time, then 10 bytes of a content hash. Byte order is time order.
type ID [16]byte

func (id ID) String() string { return uuid.UUID(id).String() }

// Datapoint is one stored datapoint.
type Datapoint struct {
	ID ID
	// Data is the datapoint's canonical encoding: the deterministic protobuf
	// bytes of the dataset message without the id and ingestion_time fields.
	// With Query.SkipData it may hold only a prefix that contains the encoded
	// time field (field 1 comes first in canonical bytes).
	Data []byte
	// IngestionTime is set by the store when the datapoint is first written.
	IngestionTime time.Time
	// Collection is the collection the datapoint was read from (queries only).
	Collection uuid.UUID
	// Bounds are lon/lat boxes that cover the datapoint's geometry (two when
	// it was split at the antimeridian; nil without geometry). Stores index
	// them for the spatial prefilter; set on ingest only.
	Bounds []orb.Bound
	// SpatialMatch is set by Query when the store tested the datapoint
	// against q.Spatial exactly (and it passed): the caller need not test it
	// again. Datapoints without it that Query returns are prefilter
	// candidates only.
	SpatialMatch bool
}

// Collection is a named set of datapoints inside a dataset.
type Collection struct {
	ID        uuid.UUID
	DatasetID uuid.UUID
	Name      string
}

// CollectionStats are a collection's datapoint count and the IDs of its
// first and last datapoints (zero when empty), from which availability follows.
type CollectionStats struct {
	Count       uint64
	First, Last Datapoint
}

// IngestResult tells how an ingest call ended. Existing[i] is true when the
// i-th datapoint was already stored (or repeated earlier in the same call).
type IngestResult struct {
	Created  int64
	Existing []bool
}

// NumExisting counts the datapoints that were already stored.
func (r IngestResult) NumExisting() int64 {
	var n int64
	for _, e := range r.Existing {
		if e {
			n++
		}
	}
	return n
}

// Query selects datapoints of some collections by an inclusive ID range.
// Time intervals become ID ranges because IDs start with the time in ms.
type Query struct {
	Collections []uuid.UUID
	From, To    ID // inclusive bounds
	Limit       int
	SkipData    bool
	// Boxes, when set, keep only datapoints one of whose Bounds intersects
	// one of the boxes (edges touching count). It is a prefilter: the exact
	// spatial test is the caller's. Datapoints without geometry never match.
	Boxes []orb.Bound
	// Spatial, when set with Boxes, is the exact test behind the boxes. A
	// store that can evaluate it (PostgreSQL with PostGIS, for the modes it
	// supports) returns only datapoints that pass it, marked SpatialMatch;
	// one that cannot ignores it and the Boxes prefilter alone applies.
	Spatial *SpatialFilter
}

// SpatialFilter is an exact spatial test of datapoint geometries.
type SpatialFilter struct {
	// Geometry is the filter as WKB, already fixed (cut at the
	// antimeridian, lon/lat degrees), as geo.NewFilter prepares it.
	Geometry []byte
	// Contains: datapoint geometries fully inside the filter (boundary
	// included); otherwise any shared point (touching counts).
	Contains bool
	// Spherical: edges are great circles; otherwise straight lon/lat lines.
	Spherical bool
}

// ExistsError lists IDs that made an ingest call with allowExisting=false fail.
type ExistsError struct{ IDs []ID }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%d datapoint(s) already exist, first %s; nothing was written", len(e.IDs), e.IDs[0])
}
func (e *ExistsError) Unwrap() error { return ErrAlreadyExists }

// MissingError lists IDs that made a delete call fail.
type MissingError struct{ IDs []ID }

func (e *MissingError) Error() string {
	return fmt.Sprintf("%d datapoint(s) not found in the collection, first %s; nothing was deleted", len(e.IDs), e.IDs[0])
}
func (e *MissingError) Unwrap() error { return ErrNotFound }

// Store persists datasets, collections and datapoints. Every method that
// writes datapoints is one transaction: all of it lands or none of it.
type Store interface {
	// CreateDataset stores d (ID set by the caller; a zero GroupID is filled
	// in from d.Group, a set one must match it); a dataset with the same slug
	// fails with ErrAlreadyExists.
	CreateDataset(ctx context.Context, d *schema.Dataset) error
	// UpdateDataset replaces d's stored record. When requireEmpty is set the
	// update fails with ErrNotEmpty if any of its collections holds data.
	UpdateDataset(ctx context.Context, d *schema.Dataset, requireEmpty bool) error
	Dataset(ctx context.Context, id uuid.UUID) (*schema.Dataset, error)
	DatasetBySlug(ctx context.Context, slug string) (*schema.Dataset, error)
	// Datasets lists every dataset, ordered by slug.
	Datasets(ctx context.Context) ([]*schema.Dataset, error)
	// DeleteDataset removes a dataset with its collections and datapoints.
	DeleteDataset(ctx context.Context, id uuid.UUID) error
	// GroupID returns the ID of the group with this code name, creating it.
	GroupID(ctx context.Context, group string) (uuid.UUID, error)

	CreateCollection(ctx context.Context, datasetID uuid.UUID, name string) (Collection, error)
	Collection(ctx context.Context, datasetID uuid.UUID, name string) (Collection, error)
	CollectionByID(ctx context.Context, id uuid.UUID) (Collection, error)
	// Collections lists a dataset's collections ordered by name.
	Collections(ctx context.Context, datasetID uuid.UUID) ([]Collection, error)
	CollectionStats(ctx context.Context, id uuid.UUID) (CollectionStats, error)
	DeleteCollection(ctx context.Context, id uuid.UUID) error

	// Ingest stores datapoints in one transaction. With allowExisting, IDs
	// already stored are skipped and reported; without it any such ID fails
	// the whole call with an *ExistsError and nothing is written.
	Ingest(ctx context.Context, collection uuid.UUID, dps []Datapoint, allowExisting bool) (IngestResult, error)
	// Delete removes the datapoints with these IDs in one transaction; if
	// any is not in the collection nothing is deleted (*MissingError). A
	// repeated ID counts once.
	Delete(ctx context.Context, collection uuid.UUID, ids []ID) (int64, error)
	// Query returns up to q.Limit datapoints (no limit when <= 0) in
	// ascending ID order. An unknown collection is ErrNotFound; no
	// collections, or From > To, is an empty result.
	Query(ctx context.Context, q Query) ([]Datapoint, error)
	// Get returns the datapoint with this ID from the first of the
	// collections that holds it.
	Get(ctx context.Context, collections []uuid.UUID, id ID, skipData bool) (Datapoint, error)

	Close() error
}
