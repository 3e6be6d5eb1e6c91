package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/inbound"
)

// Inbound events table (the DynamoDB key design: a tenant's records ordered by inbound.Key):
//
//	PRIMARY KEY (tenant_id, sort_key)   a tenant's records, newest first when read backwards
//	inbound_by_expiry (expires_at)      what Expire deletes
const inboundSchema = `CREATE TABLE IF NOT EXISTS inbound_events (
	tenant_id    TEXT    NOT NULL,
	sort_key     TEXT    NOT NULL,
	event_id     TEXT    NOT NULL,
	router       TEXT    NOT NULL,
	detail_type  TEXT    NOT NULL,
	source       TEXT    NOT NULL,
	at           INTEGER NOT NULL,
	outcome      TEXT    NOT NULL,
	reason       TEXT    NOT NULL,
	detail       TEXT    NOT NULL,
	project_hash TEXT    NOT NULL,
	task_id      TEXT    NOT NULL,
	deliveries   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, sort_key)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inbound_by_expiry ON inbound_events (expires_at)`

// Inbound is the embedded record of inbound events.
type Inbound struct {
	db  *sql.DB
	now func() time.Time
}

var (
	_ inbound.Recorder = (*Inbound)(nil)
	_ inbound.Reader   = (*Inbound)(nil)
)

// NewInbound migrates the inbound_events table in db.
func NewInbound(ctx context.Context, db *sql.DB) (*Inbound, error) {
	if err := sqlitedb.Migrate(ctx, db, "sqlitestore inbound events", inboundSchema); err != nil {
		return nil, err
	}
	return &Inbound{db: db, now: time.Now}, nil
}

// RecordInbound implements inbound.Recorder.
func (s *Inbound) RecordInbound(ctx context.Context, r inbound.Record) error {
	r = r.Bounded()
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO inbound_events (tenant_id, sort_key, event_id, router, detail_type, source, at,
		outcome, reason, detail, project_hash, task_id, deliveries, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.TenantID, r.Key(), r.EventID, r.Router, r.DetailType, r.Source, r.At.UnixNano(), string(r.Outcome), r.Reason, r.Detail,
		r.ProjectHash, r.TaskID, r.Deliveries, r.At.Add(inbound.Retention).Unix())
	if err != nil {
		return fmt.Errorf("record inbound event %s: %w", r.EventID, err)
	}
	return nil
}

// ListInbound implements inbound.Reader: one indexed range read, newest first, without the
// records past their retention that Expire has not removed yet.
func (s *Inbound) ListInbound(ctx context.Context, tenant string, q inbound.Query) (inbound.Page, error) {
	limit, err := q.Page.Size()
	if err != nil {
		return inbound.Page{}, err
	}
	before := "\U0010FFFF"
	if q.Page.Cursor != "" {
		if before, err = inbound.After(tenant, q.Page.Cursor); err != nil {
			return inbound.Page{}, err
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT sort_key, event_id, router, detail_type, source, at, outcome, reason, detail, project_hash, task_id, deliveries
		FROM inbound_events WHERE tenant_id = ? AND sort_key < ? AND (? = '' OR outcome = ?) AND expires_at > ?
		ORDER BY sort_key DESC LIMIT ?`, tenant, before, string(q.Outcome), string(q.Outcome), s.now().Unix(), limit+1)
	if err != nil {
		return inbound.Page{}, fmt.Errorf("list inbound events: %w", err)
	}
	defer rows.Close()
	var page inbound.Page
	var keys []string
	for rows.Next() {
		r := inbound.Record{TenantID: tenant}
		var key, outcome string
		var at int64
		if err := rows.Scan(&key, &r.EventID, &r.Router, &r.DetailType, &r.Source, &at, &outcome, &r.Reason, &r.Detail, &r.ProjectHash, &r.TaskID, &r.Deliveries); err != nil {
			return inbound.Page{}, fmt.Errorf("list inbound events: %w", err)
		}
		r.At, r.Outcome = time.Unix(0, at).UTC(), inbound.Outcome(outcome)
		page.Items = append(page.Items, r)
		keys = append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return inbound.Page{}, fmt.Errorf("list inbound events: %w", err)
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		page.NextCursor = inbound.Cursor(tenant, keys[limit-1])
	}
	return page, nil
}

// Expire deletes the records past their retention, as DynamoDB's TTL does, sweepBatch at a
// time so that the routers' writes barely wait.
func (s *Inbound) Expire(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM inbound_events WHERE (tenant_id, sort_key) IN
			(SELECT tenant_id, sort_key FROM inbound_events WHERE expires_at <= ? LIMIT ?)`, now.Unix(), sweepBatch)
		if err != nil {
			return total, fmt.Errorf("expire inbound events: %w", err)
		}
		n, err := res.RowsAffected()
		total += n
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}
