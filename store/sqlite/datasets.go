package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// GroupID returns the ID of the group with this code name, creating the
// group with a random ID on first use.
func (s *Store) GroupID(ctx context.Context, group string) (uuid.UUID, error) {
	var b []byte
	err := s.r.QueryRowContext(ctx, "SELECT id FROM groups WHERE code_name = ?", group).Scan(&b)
	if err == nil {
		return uuid.FromBytes(b)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("group %q: %w", group, err)
	}
	var id uuid.UUID
	err = s.write(ctx, func(tx *sql.Tx) (err error) {
		id, err = ensureGroup(ctx, tx, group, uuid.Nil)
		return err
	})
	if err != nil {
		return uuid.Nil, fmt.Errorf("group %q: %w", group, err)
	}
	return id, nil
}

// ensureGroup returns the ID of the group with this code name, creating it
// with id (or a random ID when id is zero). A group that exists with another
// ID than a non-zero id is an error.
func ensureGroup(ctx context.Context, tx *sql.Tx, group string, id uuid.UUID) (uuid.UUID, error) {
	var b []byte
	err := tx.QueryRowContext(ctx, "SELECT id FROM groups WHERE code_name = ?", group).Scan(&b)
	switch {
	case err == nil:
		have, err := uuid.FromBytes(b)
		if err != nil {
			return uuid.Nil, err
		}
		if id != uuid.Nil && id != have {
			return uuid.Nil, fmt.Errorf("group %q has ID %s, not %s", group, have, id)
		}
		return have, nil
	case !errors.Is(err, sql.ErrNoRows):
		return uuid.Nil, err
	}
	if id == uuid.Nil {
		id = uuid.New()
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO groups (id, code_name) VALUES (?, ?)", id[:], group); err != nil {
		if isUniqueViolation(err) {
			return uuid.Nil, fmt.Errorf("group ID %s belongs to another group than %q", id, group)
		}
		return uuid.Nil, err
	}
	return id, nil
}

// CreateDataset stores d. A zero d.GroupID is filled in from d.Group.
func (s *Store) CreateDataset(ctx context.Context, d *schema.Dataset) error {
	if _, err := schema.ParseKind(d.Kind.String()); err != nil {
		return fmt.Errorf("create dataset %s: %w", d.Slug(), err)
	}
	fields, err := schema.MarshalFields(d.Fields)
	if err != nil {
		return fmt.Errorf("dataset %s: %w", d.Slug(), err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		gid, err := ensureGroup(ctx, tx, d.Group, d.GroupID)
		if err != nil {
			return err
		}
		if err := checkSlugFree(ctx, tx, d, gid); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM datasets WHERE id = ?)", d.ID[:]).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("dataset ID %s: %w", d.ID, store.ErrAlreadyExists)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO datasets (id, group_id, code_name, name, summary, description, kind, fields)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			d.ID[:], gid[:], d.CodeName, d.Name, d.Summary, d.Description, d.Kind.String(), fields); err != nil {
			if isUniqueViolation(err) {
				return store.ErrAlreadyExists
			}
			return err
		}
		d.GroupID = gid
		return nil
	})
	if err != nil {
		return fmt.Errorf("create dataset %s: %w", d.Slug(), err)
	}
	return nil
}

// checkSlugFree fails with ErrAlreadyExists when a dataset other than d has
// d's slug.
func checkSlugFree(ctx context.Context, tx *sql.Tx, d *schema.Dataset, gid uuid.UUID) error {
	var other []byte
	err := tx.QueryRowContext(ctx, "SELECT id FROM datasets WHERE group_id = ? AND code_name = ? AND id != ?",
		gid[:], d.CodeName, d.ID[:]).Scan(&other)
	switch {
	case err == nil:
		return store.ErrAlreadyExists
	case errors.Is(err, sql.ErrNoRows):
		return nil
	}
	return err
}

// UpdateDataset replaces the stored record of d.ID, slug included.
func (s *Store) UpdateDataset(ctx context.Context, d *schema.Dataset, requireEmpty bool) error {
	if _, err := schema.ParseKind(d.Kind.String()); err != nil {
		return fmt.Errorf("update dataset %s: %w", d.Slug(), err)
	}
	fields, err := schema.MarshalFields(d.Fields)
	if err != nil {
		return fmt.Errorf("update dataset %s: %w", d.Slug(), err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM datasets WHERE id = ?)", d.ID[:]).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return store.ErrNotFound
		}
		if requireEmpty {
			var hasData bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM collections c JOIN datapoints p ON p.collection = c.pk
				WHERE c.dataset_id = ?)`, d.ID[:]).Scan(&hasData); err != nil {
				return err
			}
			if hasData {
				return store.ErrNotEmpty
			}
		}
		gid, err := ensureGroup(ctx, tx, d.Group, d.GroupID)
		if err != nil {
			return err
		}
		if err := checkSlugFree(ctx, tx, d, gid); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE datasets SET group_id = ?, code_name = ?, name = ?, summary = ?,
			description = ?, kind = ?, fields = ? WHERE id = ?`,
			gid[:], d.CodeName, d.Name, d.Summary, d.Description, d.Kind.String(), fields, d.ID[:]); err != nil {
			if isUniqueViolation(err) {
				return store.ErrAlreadyExists
			}
			return err
		}
		d.GroupID = gid
		return nil
	})
	if err != nil {
		return fmt.Errorf("update dataset %s: %w", d.Slug(), err)
	}
	return nil
}

const datasetColumns = `SELECT d.id, d.group_id, g.code_name, d.code_name, d.name, d.summary, d.description, d.kind, d.fields
	FROM datasets d JOIN groups g ON g.id = d.group_id`

type scanner interface{ Scan(dest ...any) error }

func scanDataset(sc scanner) (*schema.Dataset, error) {
	var (
		id, gid      []byte
		kind, fields string
		d            schema.Dataset
	)
	if err := sc.Scan(&id, &gid, &d.Group, &d.CodeName, &d.Name, &d.Summary, &d.Description, &kind, &fields); err != nil {
		return nil, err
	}
	var err error
	if d.ID, err = uuid.FromBytes(id); err != nil {
		return nil, err
	}
	if d.GroupID, err = uuid.FromBytes(gid); err != nil {
		return nil, err
	}
	if d.Kind, err = schema.ParseKind(kind); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", d.Slug(), err)
	}
	if d.Fields, err = schema.UnmarshalFields(fields); err != nil {
		return nil, fmt.Errorf("dataset %s: fields: %w", d.Slug(), err)
	}
	return &d, nil
}

// Dataset returns the dataset with this ID.
func (s *Store) Dataset(ctx context.Context, id uuid.UUID) (*schema.Dataset, error) {
	d, err := scanDataset(s.r.QueryRowContext(ctx, datasetColumns+" WHERE d.id = ?", id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("dataset %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", id, err)
	}
	return d, nil
}

// DatasetBySlug returns the dataset named "group.code_name" (or a bare
// code name for a dataset without group).
func (s *Store) DatasetBySlug(ctx context.Context, slug string) (*schema.Dataset, error) {
	group, code := schema.SplitSlug(slug)
	d, err := scanDataset(s.r.QueryRowContext(ctx, datasetColumns+" WHERE g.code_name = ? AND d.code_name = ?", group, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("dataset %s: %w", slug, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", slug, err)
	}
	return d, nil
}

// Datasets lists every dataset ordered by slug.
func (s *Store) Datasets(ctx context.Context) ([]*schema.Dataset, error) {
	rows, err := s.r.QueryContext(ctx, datasetColumns+" ORDER BY g.code_name, d.code_name")
	if err != nil {
		return nil, fmt.Errorf("list datasets: %w", err)
	}
	defer rows.Close()
	var out []*schema.Dataset
	for rows.Next() {
		d, err := scanDataset(rows)
		if err != nil {
			return nil, fmt.Errorf("list datasets: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list datasets: %w", err)
	}
	return out, nil
}

// DeleteDataset removes a dataset with its collections and datapoints.
func (s *Store) DeleteDataset(ctx context.Context, id uuid.UUID) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(deleteBoxesSQL, "SELECT pk FROM collections WHERE dataset_id = ?1 AND spatial > 0"), id[:]); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM datapoints WHERE collection IN (SELECT pk FROM collections WHERE dataset_id = ?)`, id[:]); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM collections WHERE dataset_id = ?", id[:]); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM datasets WHERE id = ?", id[:])
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete dataset %s: %w", id, err)
	}
	return nil
}

// CreateCollection creates a collection with a random ID in a dataset.
func (s *Store) CreateCollection(ctx context.Context, datasetID uuid.UUID, name string) (store.Collection, error) {
	if name == "" {
		return store.Collection{}, fmt.Errorf("create collection in dataset %s: the name is empty", datasetID)
	}
	c := store.Collection{ID: uuid.New(), DatasetID: datasetID, Name: name}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM datasets WHERE id = ?)", datasetID[:]).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("no such dataset: %w", store.ErrNotFound)
		}
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM collections WHERE dataset_id = ? AND name = ?)", datasetID[:], name).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return store.ErrAlreadyExists
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO collections (id, dataset_id, name) VALUES (?, ?, ?)", c.ID[:], datasetID[:], name)
		if isUniqueViolation(err) {
			return store.ErrAlreadyExists
		}
		return err
	})
	if err != nil {
		return store.Collection{}, fmt.Errorf("create collection %q in dataset %s: %w", name, datasetID, err)
	}
	return c, nil
}

func scanCollection(sc scanner) (store.Collection, error) {
	var id, did []byte
	var c store.Collection
	if err := sc.Scan(&id, &did, &c.Name); err != nil {
		return c, err
	}
	var err error
	if c.ID, err = uuid.FromBytes(id); err != nil {
		return c, err
	}
	c.DatasetID, err = uuid.FromBytes(did)
	return c, err
}

// Collection returns a dataset's collection by name.
func (s *Store) Collection(ctx context.Context, datasetID uuid.UUID, name string) (store.Collection, error) {
	c, err := scanCollection(s.r.QueryRowContext(ctx, "SELECT id, dataset_id, name FROM collections WHERE dataset_id = ? AND name = ?", datasetID[:], name))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("collection %q of dataset %s: %w", name, datasetID, err)
	}
	return c, nil
}

// CollectionByID returns a collection by its ID.
func (s *Store) CollectionByID(ctx context.Context, id uuid.UUID) (store.Collection, error) {
	c, err := scanCollection(s.r.QueryRowContext(ctx, "SELECT id, dataset_id, name FROM collections WHERE id = ?", id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("collection %s: %w", id, err)
	}
	return c, nil
}

// Collections lists a dataset's collections ordered by name.
func (s *Store) Collections(ctx context.Context, datasetID uuid.UUID) ([]store.Collection, error) {
	var out []store.Collection
	err := s.read(ctx, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM datasets WHERE id = ?)", datasetID[:]).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return store.ErrNotFound
		}
		rows, err := tx.QueryContext(ctx, "SELECT id, dataset_id, name FROM collections WHERE dataset_id = ? ORDER BY name", datasetID[:])
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanCollection(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("collections of dataset %s: %w", datasetID, err)
	}
	return out, nil
}

// DeleteCollection removes a collection and its datapoints.
func (s *Store) DeleteCollection(ctx context.Context, id uuid.UUID) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		pk, err := collectionPK(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(deleteBoxesSQL, "SELECT pk FROM collections WHERE pk = ?1 AND spatial > 0"), pk); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM datapoints WHERE collection = ?", pk); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM collections WHERE pk = ?", pk)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete collection %s: %w", id, err)
	}
	return nil
}

// collectionPK returns the integer key datapoints use for a collection.
func collectionPK(ctx context.Context, q querier, id uuid.UUID) (int64, error) {
	var pk int64
	err := q.QueryRowContext(ctx, "SELECT pk FROM collections WHERE id = +?", id[:]).Scan(&pk)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("collection %s: %w", id, store.ErrNotFound)
	}
	return pk, err
}
