package datasets

import (
	"context"
	"net/url"

	"github.com/granaryhq/granary/store"
	"github.com/granaryhq/granary/store/postgres"
	"github.com/granaryhq/granary/store/sqlite"
)

// OpenStore opens the store that a --store value or $GRANARY_STORE names:
// the PostgreSQL database of a postgres:// or postgresql:// URL (schema
// created or migrated on first use), else the embedded SQLite file at that
// path. (http:// and https:// URLs name servers: see WithURL.)
func OpenStore(ctx context.Context, name string) (store.Store, error) {
	if postgres.IsURL(name) {
		return postgres.Open(ctx, name)
	}
	return sqlite.Open(name)
}

// StoreName is a store name fit for messages and logs: a database URL's
// password is masked.
func StoreName(name string) string {
	if !postgres.IsURL(name) {
		return name
	}
	u, err := url.Parse(name)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return u.Redacted()
}
