// Package datasets is granary's Go client library, shaped like the
// tilebox-go datasets client: Datasets, Collections and Datapoints on one
// Client. It talks to the datasets API through the connect-go client
// interfaces, served in-process by an embedded store (the default) — so a
// server-backed client slots in without changing callers.
package datasets

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"connectrpc.com/connect"

	"github.com/granaryhq/granary/proto/gen/datasets/v1/datasetsv1connect"
	"github.com/granaryhq/granary/service"
	"github.com/granaryhq/granary/store"
)

// DefaultStorePath is where the embedded store lives unless told otherwise.
const DefaultStorePath = "granary.db"

// StoreEnv names the environment variable that sets the store.
const StoreEnv = "GRANARY_STORE"

// API is the datasets API as the client uses it: the connect-go client
// interfaces of the four services.
type API interface {
	datasetsv1connect.DatasetServiceClient
	datasetsv1connect.CollectionServiceClient
	datasetsv1connect.DataAccessServiceClient
	datasetsv1connect.DataIngestionServiceClient
}

// Client is the entry point: Datasets, Collections and Datapoints.
type Client struct {
	Datasets    *DatasetClient
	Collections *CollectionClient
	Datapoints  *DatapointClient

	closer io.Closer
}

type config struct {
	store     store.Store
	storePath string
	api       API
	logger    *slog.Logger

	// A remote server (WithURL).
	url        string
	urlSet     bool
	apiKey     string
	apiKeySet  bool
	httpClient *http.Client
}

// ClientOption configures NewClient.
type ClientOption func(*config)

// WithStore serves the API in-process from st. The caller keeps ownership
// of st: Client.Close does not close it.
func WithStore(st store.Store) ClientOption { return func(c *config) { c.store = st } }

// WithStorePath opens the store at path: an embedded SQLite file (created
// if missing), or a PostgreSQL database for a postgres:// URL.
func WithStorePath(path string) ClientOption { return func(c *config) { c.storePath = path } }

// WithAPI uses api directly, e.g. connect clients of a remote server.
func WithAPI(api API) ClientOption { return func(c *config) { c.api = api } }

// WithLogger sets the logger of the in-process service.
func WithLogger(l *slog.Logger) ClientOption { return func(c *config) { c.logger = l } }

// NewClient returns a client. Without options it uses the store named by
// $GRANARY_STORE — a server URL (http:// or https://) or an embedded store
// file — or the embedded store ./granary.db.
func NewClient(opts ...ClientOption) (*Client, error) {
	cfg := config{logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	var closer io.Closer
	api := cfg.api
	if !cfg.urlSet && cfg.store == nil && cfg.storePath == "" && api == nil && IsURL(os.Getenv(StoreEnv)) {
		cfg.url, cfg.urlSet = os.Getenv(StoreEnv), true
	}
	if api == nil && cfg.urlSet {
		var err error
		if api, err = remoteAPI(&cfg); err != nil {
			return nil, err
		}
	}
	if api == nil {
		st := cfg.store
		if st == nil {
			path := cfg.storePath
			if path == "" {
				path = os.Getenv(StoreEnv)
			}
			if path == "" {
				path = DefaultStorePath
			}
			var err error
			if st, err = OpenStore(context.Background(), path); err != nil {
				return nil, fmt.Errorf("open store %s: %w", StoreName(path), err)
			}
			closer = st
		}
		api = service.New(st, service.WithLogger(cfg.logger))
	}
	return &Client{
		Datasets:    &DatasetClient{api: api},
		Collections: &CollectionClient{api: api},
		Datapoints:  &DatapointClient{api: api},
		closer:      closer,
	}, nil
}

// Close releases the store the client opened itself.
func (c *Client) Close() error {
	if c.closer == nil {
		return nil
	}
	return c.closer.Close()
}

// IsNotFound reports whether err says that a dataset, collection or
// datapoint does not exist.
func IsNotFound(err error) bool { return connect.CodeOf(err) == connect.CodeNotFound }

// IsAlreadyExists reports whether err says that something already exists.
func IsAlreadyExists(err error) bool { return connect.CodeOf(err) == connect.CodeAlreadyExists }

// apiError adds what the client was doing; connect.CodeOf still sees the code.
func apiError(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
