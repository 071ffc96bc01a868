package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

// querier is what the pool and a transaction share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// GroupID returns the ID of the group with this code name, creating the
// group with a random ID on first use.
func (s *Store) GroupID(ctx context.Context, group string) (uuid.UUID, error) {
	var id [16]byte
	err := s.pool.QueryRow(ctx, "SELECT id FROM groups WHERE code_name = $1", group).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("group %q: %w", group, err)
	}
	var gid uuid.UUID
	err = s.write(ctx, func(tx pgx.Tx) (err error) {
		gid, err = ensureGroup(ctx, tx, group, uuid.Nil)
		return err
	})
	if err != nil {
		return uuid.Nil, fmt.Errorf("group %q: %w", group, err)
	}
	return gid, nil
}

// ensureGroup returns the ID of the group with this code name, creating it
// with id (or a random ID when id is zero). A group that exists with another
// ID than a non-zero id is an error.
func ensureGroup(ctx context.Context, tx pgx.Tx, group string, id uuid.UUID) (uuid.UUID, error) {
	want := id
	if want == uuid.Nil {
		want = uuid.New()
	}
	// ON CONFLICT waits for a concurrent insert of the same name, and the
	// SELECT (a new snapshot) then sees it.
	if _, err := tx.Exec(ctx, "INSERT INTO groups (id, code_name) VALUES ($1, $2) ON CONFLICT (code_name) DO NOTHING",
		[16]byte(want), group); err != nil {
		if isUniqueViolation(err) {
			return uuid.Nil, fmt.Errorf("group ID %s belongs to another group than %q", id, group)
		}
		return uuid.Nil, err
	}
	var have [16]byte
	if err := tx.QueryRow(ctx, "SELECT id FROM groups WHERE code_name = $1", group).Scan(&have); err != nil {
		return uuid.Nil, err
	}
	if id != uuid.Nil && id != have {
		return uuid.Nil, fmt.Errorf("group %q has ID %s, not %s", group, uuid.UUID(have), id)
	}
	return have, nil
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
	var gid uuid.UUID
	err = s.write(ctx, func(tx pgx.Tx) error {
		var err error
		if gid, err = ensureGroup(ctx, tx, d.Group, d.GroupID); err != nil {
			return err
		}
		if err := checkSlugFree(ctx, tx, d, gid); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM datasets WHERE id = $1)", [16]byte(d.ID)).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("dataset ID %s: %w", d.ID, store.ErrAlreadyExists)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO datasets (id, group_id, code_name, name, summary, description, kind, fields)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb)`,
			[16]byte(d.ID), [16]byte(gid), d.CodeName, d.Name, d.Summary, d.Description, d.Kind.String(), fields); err != nil {
			if isUniqueViolation(err) {
				return store.ErrAlreadyExists
			}
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create dataset %s: %w", d.Slug(), err)
	}
	d.GroupID = gid
	return nil
}

// checkSlugFree fails with ErrAlreadyExists when a dataset other than d has
// d's slug.
func checkSlugFree(ctx context.Context, tx pgx.Tx, d *schema.Dataset, gid uuid.UUID) error {
	var taken bool
	err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM datasets WHERE group_id = $1 AND code_name = $2 AND id <> $3)",
		[16]byte(gid), d.CodeName, [16]byte(d.ID)).Scan(&taken)
	if err != nil {
		return err
	}
	if taken {
		return store.ErrAlreadyExists
	}
	return nil
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
	var gid uuid.UUID
	err = s.write(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM datasets WHERE id = $1 FOR UPDATE", [16]byte(d.ID)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if requireEmpty {
			// Locking the collections waits for ingests in flight and
			// holds off new ones until the update commits.
			var hasData bool
			if err := tx.QueryRow(ctx, `SELECT coalesce(bool_or(n > 0), false) FROM
				(SELECT n FROM collections WHERE dataset_id = $1 FOR UPDATE) c`, [16]byte(d.ID)).Scan(&hasData); err != nil {
				return err
			}
			if hasData {
				return store.ErrNotEmpty
			}
		}
		if gid, err = ensureGroup(ctx, tx, d.Group, d.GroupID); err != nil {
			return err
		}
		if err := checkSlugFree(ctx, tx, d, gid); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE datasets SET group_id = $1, code_name = $2, name = $3, summary = $4,
			description = $5, kind = $6, fields = $7::text::jsonb WHERE id = $8`,
			[16]byte(gid), d.CodeName, d.Name, d.Summary, d.Description, d.Kind.String(), fields, [16]byte(d.ID)); err != nil {
			if isUniqueViolation(err) {
				return store.ErrAlreadyExists
			}
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update dataset %s: %w", d.Slug(), err)
	}
	d.GroupID = gid
	return nil
}

const datasetColumns = `SELECT d.id, d.group_id, g.code_name, d.code_name, d.name, d.summary, d.description, d.kind, d.fields::text
	FROM datasets d JOIN groups g ON g.id = d.group_id`

func scanDataset(row pgx.Row) (*schema.Dataset, error) {
	var (
		id, gid      [16]byte
		kind, fields string
		d            schema.Dataset
	)
	if err := row.Scan(&id, &gid, &d.Group, &d.CodeName, &d.Name, &d.Summary, &d.Description, &kind, &fields); err != nil {
		return nil, err
	}
	d.ID, d.GroupID = id, gid
	var err error
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
	d, err := scanDataset(s.pool.QueryRow(ctx, datasetColumns+" WHERE d.id = $1", [16]byte(id)))
	if errors.Is(err, pgx.ErrNoRows) {
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
	d, err := scanDataset(s.pool.QueryRow(ctx, datasetColumns+" WHERE g.code_name = $1 AND d.code_name = $2", group, code))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("dataset %s: %w", slug, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", slug, err)
	}
	return d, nil
}

// Datasets lists every dataset ordered by slug (bytewise, whatever the
// database's collation).
func (s *Store) Datasets(ctx context.Context) ([]*schema.Dataset, error) {
	rows, err := s.pool.Query(ctx, datasetColumns+` ORDER BY g.code_name COLLATE "C", d.code_name COLLATE "C"`)
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		// The dataset row first (holds off new collections), then its
		// collections (waits for their ingests in flight).
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM datasets WHERE id = $1 FOR UPDATE", [16]byte(id)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM datapoints WHERE collection = ANY (ARRAY(
			SELECT pk FROM collections WHERE dataset_id = $1 ORDER BY pk FOR UPDATE))`, [16]byte(id)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM collections WHERE dataset_id = $1", [16]byte(id)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM datasets WHERE id = $1", [16]byte(id))
		return err
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		// KEY SHARE on the dataset: a concurrent DeleteDataset waits.
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM datasets WHERE id = $1 FOR KEY SHARE", [16]byte(datasetID)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("no such dataset: %w", store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO collections (id, dataset_id, name) VALUES ($1, $2, $3)
			ON CONFLICT (dataset_id, name) DO NOTHING`, [16]byte(c.ID), [16]byte(datasetID), name)
		if err != nil {
			if isForeignKeyViolation(err) {
				return fmt.Errorf("no such dataset: %w", store.ErrNotFound)
			}
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrAlreadyExists
		}
		return nil
	})
	if err != nil {
		return store.Collection{}, fmt.Errorf("create collection %q in dataset %s: %w", name, datasetID, err)
	}
	return c, nil
}

func scanCollection(row pgx.Row) (store.Collection, error) {
	var id, did [16]byte
	var c store.Collection
	if err := row.Scan(&id, &did, &c.Name); err != nil {
		return c, err
	}
	c.ID, c.DatasetID = id, did
	return c, nil
}

// Collection returns a dataset's collection by name.
func (s *Store) Collection(ctx context.Context, datasetID uuid.UUID, name string) (store.Collection, error) {
	c, err := scanCollection(s.pool.QueryRow(ctx, "SELECT id, dataset_id, name FROM collections WHERE dataset_id = $1 AND name = $2",
		[16]byte(datasetID), name))
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("collection %q of dataset %s: %w", name, datasetID, err)
	}
	return c, nil
}

// CollectionByID returns a collection by its ID.
func (s *Store) CollectionByID(ctx context.Context, id uuid.UUID) (store.Collection, error) {
	c, err := scanCollection(s.pool.QueryRow(ctx, "SELECT id, dataset_id, name FROM collections WHERE id = $1", [16]byte(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("collection %s: %w", id, err)
	}
	return c, nil
}

// Collections lists a dataset's collections ordered by name.
func (s *Store) Collections(ctx context.Context, datasetID uuid.UUID) ([]store.Collection, error) {
	// One statement, one snapshot: the dataset row (ord 0) and its
	// collections.
	rows, err := s.pool.Query(ctx, `SELECT * FROM (SELECT 0 AS ord, id, id AS dataset_id, '' AS name FROM datasets WHERE id = $1
		UNION ALL SELECT 1, id, dataset_id, name FROM collections WHERE dataset_id = $1) u
		ORDER BY ord, name COLLATE "C"`, [16]byte(datasetID))
	if err != nil {
		return nil, fmt.Errorf("collections of dataset %s: %w", datasetID, err)
	}
	defer rows.Close()
	found := false
	var out []store.Collection
	for rows.Next() {
		var ord int
		var id, did [16]byte
		var name string
		if err := rows.Scan(&ord, &id, &did, &name); err != nil {
			return nil, fmt.Errorf("collections of dataset %s: %w", datasetID, err)
		}
		if ord == 0 {
			found = true
			continue
		}
		out = append(out, store.Collection{ID: id, DatasetID: did, Name: name})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("collections of dataset %s: %w", datasetID, err)
	}
	if !found {
		return nil, fmt.Errorf("collections of dataset %s: %w", datasetID, store.ErrNotFound)
	}
	return out, nil
}

// DeleteCollection removes a collection and its datapoints.
func (s *Store) DeleteCollection(ctx context.Context, id uuid.UUID) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		// FOR UPDATE waits for ingests in flight (they hold KEY SHARE).
		pk, err := collectionPK(ctx, tx, id, "FOR UPDATE")
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM datapoints WHERE collection = $1", pk); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM collections WHERE pk = $1", pk)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete collection %s: %w", id, err)
	}
	return nil
}

// collectionPK returns the integer key datapoints use for a collection,
// locking its row as lock says ("" for no lock).
func collectionPK(ctx context.Context, q querier, id uuid.UUID, lock string) (int64, error) {
	var pk int64
	err := q.QueryRow(ctx, "SELECT pk FROM collections WHERE id = $1 "+lock, [16]byte(id)).Scan(&pk)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("collection %s: %w", id, store.ErrNotFound)
	}
	return pk, err
}
