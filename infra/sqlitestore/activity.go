package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/digest"
)

// Activity table (the DynamoDB key design, one column per key part):
//
//	PRIMARY KEY (tenant_id, project_hash, at, id)   a project's activity in time order (at is
//	                                                fixed width)
//	activity_by_expiry (expires_at)                 what Expire deletes
//
// A record written twice has the same key and replaces itself, as DynamoDB's PutItem does.
const activitySchema = `CREATE TABLE IF NOT EXISTS activity (
	tenant_id     TEXT    NOT NULL,
	project_hash  TEXT    NOT NULL,
	at            TEXT    NOT NULL,
	id            TEXT    NOT NULL,
	kind          TEXT    NOT NULL,
	user_email    TEXT    NOT NULL,
	annotator     TEXT    NOT NULL DEFAULT '',
	edit          INTEGER NOT NULL DEFAULT 0,
	approved      INTEGER NOT NULL DEFAULT 0,
	time_spent_ms INTEGER NOT NULL,
	expires_at    INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, project_hash, at, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS activity_by_expiry ON activity (expires_at)`

// activityPage is how many records one read of a period returns.
const activityPage = 1000

// Activity is the embedded digest.ActivityStore.
type Activity struct {
	db                   *sql.DB
	insert, page, expire *sql.Stmt
}

var _ digest.ActivityStore = (*Activity)(nil)

// NewActivity migrates the activity table in db and prepares the store's statements. The
// caller owns db and closes it after Close.
func NewActivity(ctx context.Context, db *sql.DB) (*Activity, error) {
	if err := sqlitedb.Migrate(ctx, db, "sqlitestore activity", activitySchema); err != nil {
		return nil, err
	}
	s := &Activity{db: db}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&s.insert, `INSERT OR REPLACE INTO activity (tenant_id, project_hash, at, id, kind, user_email, annotator, edit, approved,
			time_spent_ms, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		// Keyset paging along the primary key: from (at, id) exclusive of the last row read.
		{&s.page, `SELECT at, id, kind, user_email, annotator, edit, approved, time_spent_ms FROM activity
			WHERE tenant_id = ? AND project_hash = ? AND (at, id) > (?, ?) AND at < ? ORDER BY at, id LIMIT ?`},
		{&s.expire, `DELETE FROM activity WHERE expires_at <= ?`},
	} {
		stmt, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("prepare activity statement: %w", err)
		}
		*p.stmt = stmt
	}
	return s, nil
}

// Close releases the prepared statements; it does not close the database.
func (s *Activity) Close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{s.insert, s.page, s.expire} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close activity statements: %w", err)
	}
	return nil
}

// RecordActivity implements digest.ActivityStore in one transaction.
func (s *Activity) RecordActivity(ctx context.Context, records []digest.Activity) error {
	if len(records) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record activity: begin: %w", err)
	}
	defer tx.Rollback()
	insert := tx.StmtContext(ctx, s.insert)
	for _, a := range records {
		at := a.At.UTC().Truncate(time.Millisecond)
		stored, err := formatTime(at)
		if err != nil {
			return fmt.Errorf("activity %s: %w", a.ID, err)
		}
		if _, err := insert.ExecContext(ctx, a.TenantID, a.ProjectHash, stored, a.ID, string(a.Kind), a.User, a.Annotator,
			a.Edit, a.Approved, a.TimeSpentMS, at.Add(digest.Retention).Unix()); err != nil {
			return fmt.Errorf("record activity %s: %w", a.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record activity: commit: %w", err)
	}
	return nil
}

// ProjectActivity implements digest.ActivityStore, a page at a time.
func (s *Activity) ProjectActivity(ctx context.Context, tenant, project string, from, to time.Time) iter.Seq2[digest.Activity, error] {
	return func(yield func(digest.Activity, error) bool) {
		start, err1 := formatTime(from)
		end, err2 := formatTime(to)
		if err := errors.Join(err1, err2); err != nil {
			yield(digest.Activity{}, fmt.Errorf("read activity of project %s: %w", project, err))
			return
		}
		// The first page starts at `from` itself: the empty id sorts before every id.
		afterAt, afterID := start, ""
		for {
			page, err := s.readPage(ctx, tenant, project, afterAt, afterID, end)
			if err != nil {
				yield(digest.Activity{}, err)
				return
			}
			for _, a := range page {
				if !yield(a, nil) {
					return
				}
			}
			if len(page) < activityPage {
				return
			}
			last := page[len(page)-1]
			afterAt, afterID = last.At.Format(storedTime), last.ID
		}
	}
}

func (s *Activity) readPage(ctx context.Context, tenant, project, afterAt, afterID, end string) ([]digest.Activity, error) {
	rows, err := s.page.QueryContext(ctx, tenant, project, afterAt, afterID, end, activityPage)
	if err != nil {
		return nil, fmt.Errorf("read activity of project %s: %w", project, err)
	}
	defer rows.Close()
	var out []digest.Activity
	for rows.Next() {
		a := digest.Activity{TenantID: tenant, ProjectHash: project}
		var at, kind string
		if err := rows.Scan(&at, &a.ID, &kind, &a.User, &a.Annotator, &a.Edit, &a.Approved, &a.TimeSpentMS); err != nil {
			return nil, fmt.Errorf("read activity of project %s: %w", project, err)
		}
		if a.At, err = parseTime("at", at); err != nil {
			return nil, err
		}
		a.At, a.Kind = a.At.UTC(), digest.Kind(kind)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read activity of project %s: %w", project, err)
	}
	return out, nil
}

// Expire deletes the records past their retention, as DynamoDB's TTL does.
func (s *Activity) Expire(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.expire.ExecContext(ctx, now.Unix())
	if err != nil {
		return 0, fmt.Errorf("expire activity: %w", err)
	}
	return res.RowsAffected()
}
