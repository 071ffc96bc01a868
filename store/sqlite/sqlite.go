// Package sqlite is granary's embedded store: one SQLite file through
// github.com/mattn/go-sqlite3 (cgo). The cgo driver won a benchmark against
// the pure-Go modernc.org/sqlite on the store's workload (bulk inserts,
// point lookups, range scans; see benchmarks/sqlitedriver) and has the
// R*Tree module compiled in for the spatial prefilter (spatial.go).
//
// The file is opened in WAL mode with synchronous=NORMAL, so readers never
// block the writer and a commit costs no fsync until checkpoint (a power
// loss can lose the last commits, never consistency). Several
// processes (and several Store values) may open the same file: every write
// is a BEGIN IMMEDIATE transaction that waits up to the busy timeout for the
// write lock, so concurrent writers queue instead of failing.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/granaryhq/granary/store"
)

// DefaultPath is where the CLI keeps its store unless told otherwise.
const DefaultPath = "granary.db"

// pageSize suits datapoint rows of a few hundred bytes in a WITHOUT ROWID
// table, which SQLite wants under ~1/20 of a page. In benchmarks/sqlitedriver
// 4 KiB pages made inserts of unordered IDs ~30% slower and 16 KiB pages
// made ordered inserts and scans slower. It only takes effect when the
// file is created.
const pageSize = 8192

// Store is the SQLite store. It is safe for concurrent use.
type Store struct {
	path string
	// w is the only connection that writes, so writes of this process
	// queue in Go rather than in SQLite's busy handler.
	w *sql.DB
	// r serves reads; in WAL mode they run alongside the writer.
	r *sql.DB

	insertDP *sql.Stmt
	deleteDP *sql.Stmt
	// The spatial index (spatial.go).
	insertBox       *sql.Stmt
	setBoxes        *sql.Stmt
	deleteSpatialDP *sql.Stmt
	deleteBox       *sql.Stmt

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

type options struct {
	busyTimeout time.Duration
	readConns   int
	cacheMiB    int
}

// Option configures Open.
type Option func(*options)

// WithBusyTimeout sets how long a write waits for another process's write
// transaction to finish before failing (default 30 s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithReadConns sets the number of connections that serve reads (default 4).
func WithReadConns(n int) Option { return func(o *options) { o.readConns = max(n, 1) } }

// WithCacheSize sets the page cache of the writing connection in MiB
// (default 16); each reading connection gets a quarter of it. A 1M-row
// spatio-temporal ingest ran no faster with 64 MiB but peaked at 324 MB
// RSS instead of 227 MB.
func WithCacheSize(mib int) Option { return func(o *options) { o.cacheMiB = max(mib, 1) } }

// Open opens the store in the file at path, creating the file and its
// schema if needed and migrating an older schema.
func Open(path string, opts ...Option) (*Store, error) {
	o := options{busyTimeout: 30 * time.Second, readConns: 4, cacheMiB: 16}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite store: want a file path, got %q", path)
	}
	s := &Store{path: path}
	fail := func(err error) (*Store, error) {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	var err error
	// _txlock=immediate makes every transaction take the write lock when
	// it begins, so a writer never has to upgrade a read snapshot (which
	// fails at once with SQLITE_BUSY under WAL instead of waiting).
	s.w, err = sql.Open("sqlite3", dsn(path, o, "_txlock=immediate", fmt.Sprintf("_cache_size=-%d", o.cacheMiB*1024)))
	if err != nil {
		return fail(err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)

	ctx := context.Background()
	// page_size must come before the file gets its header, which
	// journal_mode=WAL writes; on an existing file both are no-ops.
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA page_size=%d", pageSize)); err != nil {
		return fail(err)
	}
	if err := setWAL(ctx, s.w, o.busyTimeout); err != nil {
		return fail(err)
	}
	if err := migrate(ctx, s.w); err != nil {
		return fail(err)
	}

	s.r, err = sql.Open("sqlite3", dsn(path, o, "_query_only=1", fmt.Sprintf("_cache_size=-%d", o.cacheMiB*1024/4)))
	if err != nil {
		return fail(err)
	}
	s.r.SetMaxOpenConns(o.readConns)
	s.r.SetMaxIdleConns(o.readConns)
	s.r.SetConnMaxIdleTime(5 * time.Minute)

	// ON CONFLICT DO NOTHING reports an existing ID as 0 rows affected, so
	// one pass both writes and finds the existing IDs.
	if s.insertDP, err = s.w.PrepareContext(ctx, `INSERT INTO datapoints (collection, id, ingestion_time, data, rid, boxes)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (collection, id) DO NOTHING`); err != nil {
		return fail(err)
	}
	if s.deleteDP, err = s.w.PrepareContext(ctx, `DELETE FROM datapoints WHERE collection = +? AND id = +?`); err != nil {
		return fail(err)
	}
	if s.insertBox, err = s.w.PrepareContext(ctx, `INSERT INTO spatial (rid, min_lon, max_lon, min_lat, max_lat, min_t, max_t, collection, id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		return fail(err)
	}
	if s.setBoxes, err = s.w.PrepareContext(ctx, `UPDATE datapoints SET rid = ?, boxes = ?
		WHERE collection = +? AND id = +? AND rid IS NULL`); err != nil {
		return fail(err)
	}
	if s.deleteSpatialDP, err = s.w.PrepareContext(ctx, `DELETE FROM datapoints WHERE collection = +? AND id = +? RETURNING rid, boxes`); err != nil {
		return fail(err)
	}
	if s.deleteBox, err = s.w.PrepareContext(ctx, `DELETE FROM spatial WHERE rid = +?`); err != nil {
		return fail(err)
	}
	return s, nil
}

// setWAL switches the file to WAL mode (which persists in the file). The
// switch needs an exclusive lock and SQLite does not wait for it with the
// busy handler, so while another process opens the same new file it is
// retried here until the busy timeout.
func setWAL(ctx context.Context, db *sql.DB, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("cannot switch to WAL mode (journal mode is %q)", mode)
			}
			return nil
		}
		var se sqlite3.Error
		if !errors.As(err, &se) || (se.Code != sqlite3.ErrBusy && se.Code != sqlite3.ErrLocked) || time.Now().After(deadline) {
			return fmt.Errorf("switch to WAL mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// dsn builds a go-sqlite3 URI for path: busy timeout, foreign keys and
// synchronous=NORMAL on every connection, plus the extra parameters.
func dsn(path string, o options, extra ...string) string {
	// A URI filename, so that '?', '#' and '%' in the path must be escaped.
	p := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	q := []string{
		"_busy_timeout=" + fmt.Sprint(o.busyTimeout.Milliseconds()),
		"_foreign_keys=1",
		"_synchronous=NORMAL",
		"_stmt_cache_size=32",
	}
	q = append(q, extra...)
	return "file:" + p + "?" + strings.Join(q, "&")
}

// Path is the file the store lives in.
func (s *Store) Path() string { return s.path }

// Close closes the store's connections; the last one to close in any
// process checkpoints the WAL into the main file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for _, st := range []*sql.Stmt{s.insertDP, s.deleteDP, s.insertBox, s.setBoxes, s.deleteSpatialDP, s.deleteBox} {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
		for _, db := range []*sql.DB{s.r, s.w} {
			if db != nil {
				errs = append(errs, db.Close())
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// write runs fn in one write transaction and commits it if fn succeeds.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// read runs fn in one read transaction, so that its statements see one
// snapshot of the file.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY failure.
func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}
