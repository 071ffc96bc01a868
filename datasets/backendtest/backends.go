package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/server"
	"github.com/granaryhq/granary/service"
	"github.com/granaryhq/granary/store/postgres"
	"github.com/granaryhq/granary/store/postgres/pgtest"
	"github.com/granaryhq/granary/store/sqlite"
)

// Embedded returns a client of a new embedded store in t.TempDir().
func Embedded(t *testing.T) *datasets.Client {
	t.Helper()
	c, err := datasets.NewClient(datasets.WithStorePath(filepath.Join(t.TempDir(), "granary.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Server is a granary server over a new embedded store, serving on a
// loopback port until the test ends.
type Server struct {
	URL string
	Key string
	*server.Server
}

// StartServer starts a server over a new embedded store on 127.0.0.1 with
// a fresh API key (and opts), stopped when the test ends.
func StartServer(t testing.TB, opts ...server.Option) *Server {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "granary.db"))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	rand.Read(b)
	key := hex.EncodeToString(b)
	opts = append([]server.Option{server.WithKeys(server.NewKeys(key)), server.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	srv := server.New(service.New(st, service.WithLogger(slog.New(slog.DiscardHandler))), opts...)
	ln, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		st.Close()
	})
	return &Server{URL: "http://" + ln.Addr().String(), Key: key, Server: srv}
}

// Client returns a remote client of s with its key (and more options).
func (s *Server) Client(t testing.TB, opts ...datasets.ClientOption) *datasets.Client {
	t.Helper()
	opts = append([]datasets.ClientOption{datasets.WithURL(s.URL), datasets.WithAPIKey(s.Key)}, opts...)
	c, err := datasets.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Remote returns a client of a new server (see StartServer).
func Remote(t *testing.T) *datasets.Client {
	t.Helper()
	return StartServer(t).Client(t)
}

// Postgres returns a client of a PostgreSQL store in a fresh schema of the
// test database ($GRANARY_TEST_POSTGRES; skipped without one, except on CI).
func Postgres(t *testing.T) *datasets.Client {
	t.Helper()
	url := pgtest.URL(t)
	st, err := postgres.Open(t.Context(), url, postgres.WithSchema(pgtest.Schema(t, url)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := datasets.NewClient(datasets.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); st.Close() })
	return c
}
