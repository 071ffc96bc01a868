package datasets

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/granaryhq/granary/proto/gen/datasets/v1/datasetsv1connect"
)

// Environment variables that give the API key of a remote server, in the
// order they are looked at when WithAPIKey is not given.
const (
	APIKeyEnv        = "GRANARY_API_KEY"
	TileboxAPIKeyEnv = "TILEBOX_API_KEY"
)

// IsURL reports whether store names a server (http:// or https://) rather
// than an embedded store file.
func IsURL(store string) bool {
	return strings.HasPrefix(store, "http://") || strings.HasPrefix(store, "https://")
}

// WithURL talks to a granary (or Tilebox-compatible) server at url, e.g.
// "http://127.0.0.1:8080" or "https://granary.example.com/prefix", with the
// Connect protocol and binary protobuf, accepting gzip'd responses.
// http:// URLs use HTTP/1.1, https:// URLs TLS with HTTP/2 when the server
// offers it. A path in the URL is kept as a prefix of the RPC paths.
//
// The API key is the one of WithAPIKey, else $GRANARY_API_KEY, else
// $TILEBOX_API_KEY; without any, calls carry no Authorization header.
func WithURL(url string) ClientOption {
	return func(c *config) { c.url, c.urlSet = url, true }
}

// WithAPIKey sets the key sent as "Authorization: Bearer <key>" to the
// server of WithURL. It has no effect on an embedded store.
func WithAPIKey(key string) ClientOption {
	return func(c *config) { c.apiKey, c.apiKeySet = key, true }
}

// WithHTTPClient sets the HTTP client for the server of WithURL, e.g. one
// with a TLS configuration of its own or a client for h2c (HTTP/2 without
// TLS, see http.Transport.Protocols).
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *config) { c.httpClient = hc }
}

// defaultTransport is shared by all remote clients without WithHTTPClient,
// so that connections are pooled across them.
var defaultTransport = sync.OnceValue(func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.ForceAttemptHTTP2 = true
	return t
})

type remoteClients struct {
	datasetsv1connect.DatasetServiceClient
	datasetsv1connect.CollectionServiceClient
	datasetsv1connect.DataAccessServiceClient
	datasetsv1connect.DataIngestionServiceClient
}

// remoteAPI builds connect clients for the server of c.url.
func remoteAPI(c *config) (API, error) {
	url := strings.TrimRight(c.url, "/")
	if !IsURL(url) {
		return nil, fmt.Errorf("datasets: server URL %q: want http://HOST:PORT or https://HOST[:PORT]", c.url)
	}
	key := c.apiKey
	if !c.apiKeySet {
		key = os.Getenv(APIKeyEnv)
		if key == "" {
			key = os.Getenv(TileboxAPIKeyEnv)
		}
	}
	hc := c.httpClient
	if hc == nil {
		hc = &http.Client{Transport: defaultTransport()}
	}
	opts := []connect.ClientOption{connect.WithInterceptors(authInterceptor(key))}
	return remoteClients{
		datasetsv1connect.NewDatasetServiceClient(hc, url, opts...),
		datasetsv1connect.NewCollectionServiceClient(hc, url, opts...),
		datasetsv1connect.NewDataAccessServiceClient(hc, url, opts...),
		datasetsv1connect.NewDataIngestionServiceClient(hc, url, opts...),
	}, nil
}

// authInterceptor sends the API key; without one, no header at all.
func authInterceptor(key string) connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if key != "" {
				req.Header().Set("Authorization", "Bearer "+key)
			}
			return next(ctx, req)
		}
	})
}
