// Package service implements the datasets API (DatasetService,
// CollectionService, DataAccessService, DataIngestionService) over a
// store.Store. Its methods have the connect-go handler signatures, which
// are also the client signatures, so the same value serves `granary serve`
// and the embedded client without a network in between.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/granaryhq/granary/convert"
	tileboxv1 "github.com/granaryhq/granary/proto/gen/tilebox/v1"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

// Limits of the API (spec section 7).
const (
	MaxValuesPerCall  = 8192
	MaxCollectionIDs  = 100
	DefaultPageSize   = 4096
	MaxPageSize       = 100_000
	defaultPageBytes  = 4 << 20
	maxDatasetNameLen = 100
	maxSummaryLen     = 50_000
	maxDescriptionLen = 1_000_000
)

// DefaultGroup is the group datasets are created in when the caller names none.
const DefaultGroup = "default"

// Service serves the datasets API from a store.
type Service struct {
	st    store.Store
	log   *slog.Logger
	now   func() time.Time
	group string

	mu    sync.Mutex
	types map[uuid.UUID]*datasetType // by dataset ID
}

// Option configures a Service.
type Option func(*Service)

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithGroup sets the group that CreateDataset puts datasets into and that
// bare code names resolve in (default "default").
func WithGroup(g string) Option { return func(s *Service) { s.group = g } }

// New returns a Service over st.
func New(st store.Store, opts ...Option) *Service {
	s := &Service{st: st, log: slog.Default(), now: time.Now, group: DefaultGroup, types: map[uuid.UUID]*datasetType{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// datasetType caches what decoding a dataset's datapoints needs.
type datasetType struct {
	ds    *schema.Dataset
	md    protoreflect.MessageDescriptor
	canon *convert.Canonicalizer
}

func (s *Service) datasetType(ctx context.Context, id uuid.UUID) (*datasetType, error) {
	s.mu.Lock()
	t := s.types[id]
	s.mu.Unlock()
	if t != nil {
		return t, nil
	}
	ds, err := s.st.Dataset(ctx, id)
	if err != nil {
		return nil, toConnect(err)
	}
	return s.cacheType(ds)
}

func (s *Service) cacheType(ds *schema.Dataset) (*datasetType, error) {
	md, err := ds.MessageDescriptor()
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	t := &datasetType{ds: ds, md: md, canon: convert.NewCanonicalizer(ds, md)}
	s.mu.Lock()
	s.types[ds.ID] = t
	s.mu.Unlock()
	return t, nil
}

func (s *Service) forgetType(id uuid.UUID) {
	s.mu.Lock()
	delete(s.types, id)
	s.mu.Unlock()
}

// parseID reads a required tilebox.v1.ID.
func parseID(what string, id *tileboxv1.ID) (uuid.UUID, error) {
	if id == nil {
		return uuid.Nil, invalid("%s is required", what)
	}
	u, err := uuid.FromBytes(id.GetUuid())
	if err != nil {
		return uuid.Nil, invalid("%s: want 16 bytes, got %d", what, len(id.GetUuid()))
	}
	if u == uuid.Nil {
		return uuid.Nil, invalid("%s must not be the nil UUID", what)
	}
	return u, nil
}

func pbID(u [16]byte) *tileboxv1.ID { return &tileboxv1.ID{Uuid: append([]byte(nil), u[:]...)} }

func invalid(format string, args ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, args...))
}

// toConnect maps store errors to API codes; deterministic failures are
// never 5xx, because clients retry those.
func toConnect(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	switch {
	case errors.As(err, &ce):
		return err
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.Is(err, store.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, store.ErrAlreadyExists):
		return connect.NewError(connect.CodeAlreadyExists, err)
	case errors.Is(err, store.ErrNotEmpty):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}
