// Package pgtest gives tests a PostgreSQL database to run against: the URL
// from $GRANARY_TEST_POSTGRES (scripts/postgres start prints one) and fresh
// schemas that are dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	neturl "net/url"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding the test database's URL.
const EnvURL = "GRANARY_TEST_POSTGRES"

// URL returns the test database's URL. Without one the test is skipped —
// or fails on CI, where scripts/postgres provides one.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s is not set on CI: run scripts/postgres start and export the URL it prints last", EnvURL)
	}
	t.Skipf("no PostgreSQL to test against: set %s, e.g. export %s=\"$(scripts/postgres start | tail -n1)\"", EnvURL, EnvURL)
	return ""
}

// Schema creates a new schema for the test and returns its name; it is
// dropped with all it holds when t ends. Pass it to postgres.WithSchema,
// or put it first in a URL's search_path (see SearchPathURL).
func Schema(t testing.TB, url string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "granary_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize())
	conn.Close(ctx)
	if err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// SearchPathURL is url with search_path set to schema, so that a store
// opened from the URL alone (as the CLI does) keeps its tables there.
func SearchPathURL(t testing.TB, url, schema string) string {
	t.Helper()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatalf("test database URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
