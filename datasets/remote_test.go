package datasets_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/datasets/backendtest"
)

// TestBackends runs the backend suite against the embedded store, a
// PostgreSQL store, and a server on a loopback port reached with the
// remote client.
func TestBackends(t *testing.T) {
	for _, b := range []struct {
		name      string
		newClient func(t *testing.T) *datasets.Client
	}{
		{"embedded", backendtest.Embedded},
		{"remote", backendtest.Remote},
		{"postgres", backendtest.Postgres},
	} {
		t.Run(b.name, func(t *testing.T) { backendtest.Run(t, b.newClient) })
	}
}

// recorder is a server that records the headers of the calls it gets and
// answers every one with not_found.
type recorder struct {
	mu      sync.Mutex
	headers []http.Header
	paths   []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.headers = append(r.headers, req.Header.Clone())
	r.paths = append(r.paths, req.URL.Path)
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte(`{"code":"not_found","message":"no such dataset: x"}`))
}

func (r *recorder) last() (http.Header, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.headers[len(r.headers)-1], r.paths[len(r.paths)-1]
}

func TestRemoteAPIKey(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	ctx := context.Background()
	get := func(opts ...datasets.ClientOption) (http.Header, string) {
		t.Helper()
		c, err := datasets.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Datasets.Get(ctx, "x")
		if !datasets.IsNotFound(err) {
			t.Fatalf("got %v, want not_found", err)
		}
		return rec.last()
	}
	t.Setenv(datasets.APIKeyEnv, "")
	t.Setenv(datasets.TileboxAPIKeyEnv, "")
	h, path := get(datasets.WithURL(srv.URL))
	if _, ok := h["Authorization"]; ok {
		t.Errorf("no key: Authorization header sent: %q", h.Get("Authorization"))
	}
	if path != "/datasets.v1.DatasetService/GetDataset" || h.Get("Content-Type") != "application/proto" ||
		!strings.Contains(h.Get("Accept-Encoding"), "gzip") || h.Get("Connect-Protocol-Version") != "1" {
		t.Errorf("wire shape: %s %v", path, h)
	}
	t.Setenv(datasets.TileboxAPIKeyEnv, "tilebox-key")
	if h, _ := get(datasets.WithURL(srv.URL)); h.Get("Authorization") != "Bearer tilebox-key" {
		t.Errorf("TILEBOX_API_KEY: %q", h.Get("Authorization"))
	}
	t.Setenv(datasets.APIKeyEnv, "granary-key")
	if h, _ := get(datasets.WithURL(srv.URL)); h.Get("Authorization") != "Bearer granary-key" {
		t.Errorf("GRANARY_API_KEY: %q", h.Get("Authorization"))
	}
	// WithAPIKey wins, in either order; a path prefix is kept.
	if h, p := get(datasets.WithAPIKey("explicit"), datasets.WithURL(srv.URL+"/prefix/")); h.Get("Authorization") != "Bearer explicit" ||
		p != "/prefix/datasets.v1.DatasetService/GetDataset" {
		t.Errorf("WithAPIKey first: %q %s", h.Get("Authorization"), p)
	}
	if h, _ := get(datasets.WithURL(srv.URL), datasets.WithAPIKey("explicit")); h.Get("Authorization") != "Bearer explicit" {
		t.Errorf("WithAPIKey last: %q", h.Get("Authorization"))
	}
	// WithAPIKey("") sends no key even with the environment set.
	if h, _ := get(datasets.WithURL(srv.URL), datasets.WithAPIKey("")); h.Get("Authorization") != "" {
		t.Errorf("WithAPIKey(\"\"): %q", h.Get("Authorization"))
	}
	// WithHTTPClient is used.
	var used bool
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	get(datasets.WithHTTPClient(hc), datasets.WithURL(srv.URL))
	if !used {
		t.Error("WithHTTPClient not used")
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRemoteBadConfig(t *testing.T) {
	for name, opts := range map[string][]datasets.ClientOption{
		"not a URL": {datasets.WithURL("127.0.0.1:8080")},
		"empty URL": {datasets.WithURL("")},
	} {
		_, err := datasets.NewClient(opts...)
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "URL") {
			t.Errorf("%s: unclear error %v", name, err)
		}
	}
	if !datasets.IsURL("http://x:1") || !datasets.IsURL("https://x") || datasets.IsURL("granary.db") || datasets.IsURL("/tmp/http://x") {
		t.Error("IsURL")
	}
}

func TestRemoteUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	c, err := datasets.NewClient(datasets.WithURL(url))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Datasets.List(context.Background())
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("got %v, want unavailable", err)
	}
}
