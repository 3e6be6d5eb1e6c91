// Package sqlitestore stores Herald's configuration and delivery log in the single-machine
// runtime's SQLite database (see infra/sqlitedb). It is the embedded counterpart of
// infra/dynamo: the same methods, the same error kinds, the same contract suite
// (tests/contract), so the domain cannot tell which one it talks to.
//
// Webhooks table (the DynamoDB key design, one column per key part):
//
//	PRIMARY KEY (tenant_id, id)       every read names the tenant, so no key reaches another
//	                                  tenant's data; lists are range scans of it
//	webhooks_by_tenant_stage (tenant_id, project_hash, stage_uuid, id, enabled, ordered)
//	                                  the router's lookup, keyed by the event's tenant first
//	                                  as DynamoDB's by_stage; it covers the query, so like the
//	                                  by_stage GSI it answers without touching the rows that
//	                                  hold the signing secrets
//	webhooks_url (tenant_id, project_hash, stage_uuid, url) UNIQUE, stage webhooks only
//	                                  DynamoDB's URL claim items: one URL once per stage
//
// A notification's webhooks are rows of the same table (notification_id set, the stage columns
// empty), so the delivery path reads them like stage webhooks; the notifications table is in
// notifications.go.
//
// Times are TEXT in RFC 3339, UTC, with a fixed nine-digit fraction: they round-trip to the
// nanosecond (time.Parse gives back the UTC location, as DynamoDB's adapter does), and string
// order is time order, which the attempts key relies on.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// DefaultAttemptRetention keeps attempts for 30 days, the same as infra/dynamo's
// DefaultAttemptRetention (not imported, so the embedded runtime links no AWS SDK): long
// enough to debug last month's incident and to recover failed deliveries after a long outage.
const DefaultAttemptRetention = 30 * 24 * time.Hour

// Options tune a Store.
type Options struct {
	// AttemptRetention is how long attempts are kept before Sweep deletes them; zero or
	// negative means DefaultAttemptRetention.
	AttemptRetention time.Duration
}

// Store keeps stage webhooks and delivery attempts in SQLite. It implements the methods of
// both DynamoDB adapters (dynamo.WebhookStore and dynamo.AttemptLog).
type Store struct {
	db        *sql.DB
	retention time.Duration
	now       func() time.Time

	insertWebhook, getWebhook, listWebhooks, stageTargets, endpoints *sql.Stmt
	insertAttempt, attemptsOfDelivery, sweep                         *sql.Stmt
	// subscriptions is notify's lookup for every event: parsing its query each time was about
	// 13 % of the embedded default's CPU at 500 events/s.
	subscriptions *sql.Stmt
}

var (
	_ stagehooks.TargetFinder = (*Store)(nil)
	_ delivery.EndpointStore  = (*Store)(nil)
	_ delivery.AttemptLog     = (*Store)(nil)
)

// schema is run by every New; each statement is idempotent, and sqlitedb.Migrate splits on
// ";\n", so no statement may contain one. STRICT makes SQLite refuse a value of the wrong
// type instead of storing it.
const schema = `
CREATE TABLE IF NOT EXISTS webhooks (
	tenant_id       TEXT    NOT NULL,
	id              TEXT    NOT NULL,
	owner_id        TEXT    NOT NULL,
	project_hash    TEXT    NOT NULL,
	stage_uuid      TEXT    NOT NULL,
	stage_type      TEXT    NOT NULL,
	url             TEXT    NOT NULL,
	secrets         TEXT    NOT NULL CHECK (json_valid(secrets) AND json_type(secrets) = 'array'),
	enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
	disabled_reason TEXT    NOT NULL DEFAULT '',
	created_at      TEXT    NOT NULL,
	updated_at      TEXT    NOT NULL,
	previous_secret_expires_at TEXT NOT NULL DEFAULT '',
	notification_id TEXT    NOT NULL DEFAULT '',
	version         INTEGER NOT NULL DEFAULT 1,
	failing_since   TEXT    NOT NULL DEFAULT '',
	failures        INTEGER NOT NULL DEFAULT 0,
	rate_limit      INTEGER NOT NULL DEFAULT 0,
	alert_email     TEXT    NOT NULL DEFAULT '',
	ordered         INTEGER NOT NULL DEFAULT 0 CHECK (ordered IN (0, 1)),
	PRIMARY KEY (tenant_id, id)
) STRICT;
DROP INDEX IF EXISTS webhooks_by_stage;
CREATE UNIQUE INDEX IF NOT EXISTS webhooks_url ON webhooks (tenant_id, project_hash, stage_uuid, url) WHERE notification_id = '';
CREATE TABLE IF NOT EXISTS attempts (
	tenant_id        TEXT    NOT NULL,
	kind             TEXT    NOT NULL DEFAULT '',
	owner_id         TEXT    NOT NULL DEFAULT '',
	webhook_id       TEXT    NOT NULL,
	at               TEXT    NOT NULL,
	delivery_id      TEXT    NOT NULL,
	attempt          INTEGER NOT NULL,
	event_type       TEXT    NOT NULL,
	status_code      INTEGER NOT NULL,
	latency_ms       INTEGER NOT NULL,
	error_class      TEXT    NOT NULL DEFAULT '',
	response_snippet TEXT    NOT NULL DEFAULT '',
	outcome          TEXT    NOT NULL,
	next_attempt_at  TEXT,
	expires_at       INTEGER NOT NULL,
	payload          BLOB,
	PRIMARY KEY (tenant_id, webhook_id, at, delivery_id, attempt)
) STRICT;
CREATE INDEX IF NOT EXISTS attempts_by_delivery ON attempts (tenant_id, delivery_id, attempt);
CREATE INDEX IF NOT EXISTS attempts_by_expiry ON attempts (expires_at)
`

// webhookColumns are read by every query that returns stage webhooks, in scanWebhook's order.
const webhookColumns = `id, tenant_id, owner_id, project_hash, stage_uuid, stage_type, url, secrets,
	previous_secret_expires_at, enabled, disabled_reason, version, created_at, updated_at, rate_limit, alert_email, ordered`

// endpointsSQL reads the webhooks named by a JSON array of [tenant, id] pairs. A pair named
// twice matches twice; the map in Endpoints keeps one.
const endpointsSQL = `SELECT w.tenant_id, w.id, w.url, w.enabled, w.secrets, w.previous_secret_expires_at, w.failing_since, w.rate_limit
	FROM json_each(?) AS k CROSS JOIN webhooks AS w
	WHERE w.tenant_id = k.value ->> 0 AND w.id = k.value ->> 1`

// stageTargetsSQL is the router's lookup: one tenant's webhooks on one project stage.
const stageTargetsSQL = `SELECT tenant_id, id, enabled, ordered FROM webhooks WHERE tenant_id = ? AND project_hash = ? AND stage_uuid = ?`

// stageIndex is the index that covers stageTargetsSQL. An index cannot gain a column, so one
// built by an earlier release without ordered is built again (ensureStageIndex); without it
// the router's lookup would read every row, secrets and all, instead of the index.
const (
	stageIndex        = "webhooks_by_tenant_stage"
	stageIndexColumns = "tenant_id, project_hash, stage_uuid, id, enabled, ordered"
)

// listWebhooksSQL is a range scan of the primary key from the cursor on.
const listWebhooksSQL = `SELECT ` + webhookColumns + ` FROM webhooks
	WHERE tenant_id = ? AND id > ? AND notification_id = '' ORDER BY id LIMIT ?`

// New migrates the schema in db and prepares the store's statements. The caller owns db and
// closes it after Close.
func New(ctx context.Context, db *sql.DB, opts Options) (*Store, error) {
	if opts.AttemptRetention <= 0 {
		opts.AttemptRetention = DefaultAttemptRetention
	}
	if err := sqlitedb.Migrate(ctx, db, "sqlitestore", schema); err != nil {
		return nil, err
	}
	// Columns added after the table's first release.
	if err := sqlitedb.AddMissingColumns(ctx, db, "attempts", "kind TEXT NOT NULL DEFAULT ''", "owner_id TEXT NOT NULL DEFAULT ''"); err != nil {
		return nil, err
	}
	if err := sqlitedb.AddMissingColumns(ctx, db, "webhooks", "failing_since TEXT NOT NULL DEFAULT ''", "failures INTEGER NOT NULL DEFAULT 0",
		"rate_limit INTEGER NOT NULL DEFAULT 0", "alert_email TEXT NOT NULL DEFAULT ''",
		"ordered INTEGER NOT NULL DEFAULT 0 CHECK (ordered IN (0, 1))"); err != nil {
		return nil, err
	}
	// After the columns: the index names ordered, which an earlier release's table gains only
	// just above.
	if err := ensureStageIndex(ctx, db); err != nil {
		return nil, err
	}
	if err := sqlitedb.Migrate(ctx, db, "sqlitestore notifications", notificationSchema); err != nil {
		return nil, err
	}
	s := &Store{db: db, retention: opts.AttemptRetention, now: time.Now}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		// DO NOTHING without a conflict target covers both the primary key and webhooks_url.
		{&s.insertWebhook, `INSERT INTO webhooks (tenant_id, id, owner_id, project_hash, stage_uuid, stage_type, url,
			secrets, previous_secret_expires_at, enabled, disabled_reason, version, created_at, updated_at, rate_limit, alert_email, ordered)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`},
		{&s.getWebhook, `SELECT ` + webhookColumns + ` FROM webhooks WHERE tenant_id = ? AND id = ? AND notification_id = ''`},
		{&s.listWebhooks, listWebhooksSQL},
		// Notifications' webhooks have empty stage columns, which no stage matches (TargetsForStage
		// refuses empty arguments), so this needs no notification_id test and stays covered by
		// stageIndex.
		{&s.stageTargets, stageTargetsSQL},
		{&s.endpoints, endpointsSQL},
		{&s.insertAttempt, insertPayloadAttemptSQL},
		{&s.attemptsOfDelivery, attemptsOfDeliveryByTimeSQL},
		{&s.sweep, sweepSQL},
		{&s.subscriptions, subscriptionsSQL},
	} {
		stmt, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("prepare %q: %w", p.query, err)
		}
		*p.stmt = stmt
	}
	return s, nil
}

// ensureStageIndex creates stageIndex, first dropping one that an earlier release built
// without ordered; a start that finds it current changes nothing. The look and the rebuild are
// one transaction, so two processes starting on one database rebuild it once.
func ensureStageIndex(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate index %s: %w", stageIndex, err)
	}
	defer tx.Rollback()
	var current bool
	if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pragma_index_info(?) WHERE name = 'ordered'`, stageIndex).Scan(&current); err != nil {
		return fmt.Errorf("read the columns of index %s: %w", stageIndex, err)
	}
	if !current {
		if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS `+stageIndex); err != nil {
			return fmt.Errorf("drop the earlier index %s: %w", stageIndex, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS `+stageIndex+` ON webhooks (`+stageIndexColumns+`)`); err != nil {
		return fmt.Errorf("create index %s: %w", stageIndex, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate index %s: %w", stageIndex, err)
	}
	return nil
}

// Close releases the prepared statements; it does not close the database. Closing the
// database releases them too, so Close matters only when the database outlives the Store.
func (s *Store) Close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{s.insertWebhook, s.getWebhook, s.listWebhooks, s.stageTargets, s.endpoints,
		s.insertAttempt, s.attemptsOfDelivery, s.sweep, s.subscriptions} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlitestore statements: %w", err)
	}
	return nil
}

// storedTime is RFC 3339 in UTC with a fixed nine-digit fraction: fixed width, so string order
// is time order, and exact to the nanosecond. The trailing Z is a literal; formatTime converts
// to UTC first so that it is true.
const storedTime = "2006-01-02T15:04:05.000000000Z"

// formatTime refuses years outside 0000-9999, which RFC 3339 cannot express: such a row would
// be written but never read back.
func formatTime(t time.Time) (string, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("time %v is outside the years 0000-9999 that RFC 3339 can store", t)
	}
	return t.Format(storedTime), nil
}

func parseTime(column, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse %s %q: %w", column, s, err)
	}
	return t, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanWebhook reads the webhookColumns of one row.
func scanWebhook(row scanner) (stagehooks.Webhook, error) {
	var (
		w                                stagehooks.Webhook
		stageType, secrets, previousText string
		createdText, updatedText         string
	)
	if err := row.Scan(&w.ID, &w.TenantID, &w.OwnerID, &w.ProjectHash, &w.StageUUID, &stageType, &w.URL, &secrets,
		&previousText, &w.Enabled, &w.DisabledReason, &w.Version, &createdText, &updatedText, &w.RateLimitPerSecond, &w.AlertEmail, &w.Ordered); err != nil {
		return stagehooks.Webhook{}, err
	}
	w.StageType = stagehooks.StageType(stageType)
	var err error
	if err := json.Unmarshal([]byte(secrets), &w.Secrets); err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("unmarshal secrets of webhook %s: %w", w.ID, err)
	}
	if w.PreviousSecretExpiresAt, err = parseOptionalTime("previous_secret_expires_at", previousText); err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("read webhook %s: %w", w.ID, err)
	}
	if w.CreatedAt, err = parseTime("created_at", createdText); err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("read webhook %s: %w", w.ID, err)
	}
	if w.UpdatedAt, err = parseTime("updated_at", updatedText); err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("read webhook %s: %w", w.ID, err)
	}
	return w, nil
}

// formatOptionalTime keeps the zero time as the empty string.
func formatOptionalTime(t time.Time) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	return formatTime(t)
}

func parseOptionalTime(column, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return parseTime(column, s)
}

// webhookRow is a webhook's column values as stored.
type webhookRow struct {
	secrets, previous, created, updated string
}

func toRow(w stagehooks.Webhook) (webhookRow, error) {
	secrets, err := json.Marshal(w.Secrets)
	if err != nil {
		return webhookRow{}, fmt.Errorf("marshal secrets of webhook %s: %w", w.ID, err)
	}
	r := webhookRow{secrets: string(secrets)}
	for _, f := range []struct {
		dst    *string
		column string
		t      time.Time
		zeroOK bool
	}{
		{&r.previous, "previous_secret_expires_at", w.PreviousSecretExpiresAt, true},
		{&r.created, "created_at", w.CreatedAt, false},
		{&r.updated, "updated_at", w.UpdatedAt, false},
	} {
		format := formatTime
		if f.zeroOK {
			format = formatOptionalTime
		}
		if *f.dst, err = format(f.t); err != nil {
			return webhookRow{}, fmt.Errorf("%s of webhook %s: %w", f.column, w.ID, err)
		}
	}
	return r, nil
}

// CreateWebhook stores a new stage webhook at version 1; ErrExists if its id is taken in its
// tenant, ErrDuplicateURL if another webhook of the stage has its URL.
func (s *Store) CreateWebhook(ctx context.Context, w stagehooks.Webhook) error {
	w.Version = 1
	if err := w.Validate(); err != nil {
		return err
	}
	r, err := toRow(w)
	if err != nil {
		return err
	}
	// The DSN's _txlock=immediate makes the transaction hold the write lock from its start, so
	// the look-up that tells a taken id from a taken URL sees what the insert saw.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create webhook %s: begin: %w", w.ID, err)
	}
	defer tx.Rollback()
	// ON CONFLICT DO NOTHING turns a taken id or URL into zero rows affected, so the conflict is
	// told apart from other failures without decoding driver error codes.
	res, err := tx.StmtContext(ctx, s.insertWebhook).ExecContext(ctx, w.TenantID, w.ID, w.OwnerID, w.ProjectHash, w.StageUUID,
		string(w.StageType), w.URL, r.secrets, r.previous, w.Enabled, w.DisabledReason, r.created, r.updated, w.RateLimitPerSecond, w.AlertEmail, w.Ordered)
	if err != nil {
		return fmt.Errorf("create webhook %s: %w", w.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("create webhook %s: %w", w.ID, err)
	}
	if n == 0 {
		var idTaken bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks WHERE tenant_id = ? AND id = ?)`, w.TenantID, w.ID).Scan(&idTaken); err != nil {
			return fmt.Errorf("create webhook %s: %w", w.ID, err)
		}
		if idTaken {
			return fmt.Errorf("create webhook %s: %w", w.ID, stagehooks.ErrExists)
		}
		return fmt.Errorf("create webhook %s: %w", w.ID, stagehooks.ErrDuplicateURL)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create webhook %s: commit: %w", w.ID, err)
	}
	return nil
}

// GetWebhook reads one stage webhook of a tenant.
func (s *Store) GetWebhook(ctx context.Context, tenant, id string) (stagehooks.Webhook, error) {
	w, err := scanWebhook(s.getWebhook.QueryRowContext(ctx, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return stagehooks.Webhook{}, fmt.Errorf("get webhook %s: %w", id, stagehooks.ErrNotFound)
	}
	if err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("get webhook %s: %w", id, err)
	}
	return w, nil
}

// ListWebhooks returns one page of a tenant's stage webhooks, ordered by id: a range scan of
// the primary key from the cursor on.
func (s *Store) ListWebhooks(ctx context.Context, tenant string, page stagehooks.PageRequest) (stagehooks.WebhookPage, error) {
	size, after, err := page.Resolve(tenant, stagehooks.ListStageWebhooks)
	if err != nil {
		return stagehooks.WebhookPage{}, err
	}
	// One row more than the page says whether another page follows.
	rows, err := s.listWebhooks.QueryContext(ctx, tenant, after, size+1)
	if err != nil {
		return stagehooks.WebhookPage{}, fmt.Errorf("list webhooks of tenant %s: %w", tenant, err)
	}
	defer rows.Close()
	var out stagehooks.WebhookPage
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return stagehooks.WebhookPage{}, fmt.Errorf("list webhooks of tenant %s: %w", tenant, err)
		}
		out.Items = append(out.Items, w)
	}
	if err := rows.Err(); err != nil {
		return stagehooks.WebhookPage{}, fmt.Errorf("list webhooks of tenant %s: %w", tenant, err)
	}
	if len(out.Items) > size {
		out.Items = out.Items[:size]
		out.NextCursor = stagehooks.EncodeCursor(tenant, stagehooks.ListStageWebhooks, out.Items[size-1].ID)
	}
	return out, nil
}

// UpdateWebhook applies stagehooks.Webhook.Updated to the stored stage webhook, provided its
// version is still expectedVersion, and returns it as stored. ErrNotFound, ErrVersionConflict,
// ErrDuplicateURL (the new URL is another webhook's on the same stage).
func (s *Store) UpdateWebhook(ctx context.Context, w stagehooks.Webhook, expectedVersion int64) (stagehooks.Webhook, error) {
	// One immediate transaction: nobody writes between the read and the write, so the checks
	// below are the whole story, and webhooks_url only backs them up.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("update webhook %s: begin: %w", w.ID, err)
	}
	defer tx.Rollback()
	old, err := scanWebhook(tx.StmtContext(ctx, s.getWebhook).QueryRowContext(ctx, w.TenantID, w.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return stagehooks.Webhook{}, fmt.Errorf("update webhook %s: %w", w.ID, stagehooks.ErrNotFound)
	}
	if err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("update webhook %s: %w", w.ID, err)
	}
	if old.Version != expectedVersion {
		return stagehooks.Webhook{}, fmt.Errorf("update webhook %s at version %d (stored %d): %w", w.ID, expectedVersion, old.Version, stagehooks.ErrVersionConflict)
	}
	next := old.Updated(w, s.now())
	if err := next.Validate(); err != nil {
		return stagehooks.Webhook{}, err
	}
	r, err := toRow(next)
	if err != nil {
		return stagehooks.Webhook{}, err
	}
	if next.URL != old.URL {
		var taken bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks WHERE tenant_id = ? AND project_hash = ?
			AND stage_uuid = ? AND url = ? AND notification_id = '' AND id != ?)`,
			next.TenantID, next.ProjectHash, next.StageUUID, next.URL, next.ID).Scan(&taken); err != nil {
			return stagehooks.Webhook{}, fmt.Errorf("update webhook %s: %w", w.ID, err)
		}
		if taken {
			return stagehooks.Webhook{}, fmt.Errorf("update webhook %s: %w", w.ID, stagehooks.ErrDuplicateURL)
		}
	}
	// Any change through the API starts the webhook's health afresh, as on DynamoDB.
	if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET url = ?, secrets = ?, previous_secret_expires_at = ?, enabled = ?,
		disabled_reason = ?, version = ?, updated_at = ?, failing_since = '', failures = 0, rate_limit = ?, alert_email = ?, ordered = ?
		WHERE tenant_id = ? AND id = ?`,
		next.URL, r.secrets, r.previous, next.Enabled, next.DisabledReason, next.Version, r.updated, next.RateLimitPerSecond, next.AlertEmail,
		next.Ordered, next.TenantID, next.ID); err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("update webhook %s: %w", w.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("update webhook %s: commit: %w", w.ID, err)
	}
	return next, nil
}

// DeleteWebhook deletes a stage webhook; ErrNotFound if the tenant has no such stage webhook.
// Its row is its URL's claim, so nothing else needs deleting.
func (s *Store) DeleteWebhook(ctx context.Context, tenant, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM webhooks WHERE tenant_id = ? AND id = ? AND notification_id = ''`, tenant, id)
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete webhook %s: %w", id, stagehooks.ErrNotFound)
	}
	return nil
}

// TargetsForStage implements stagehooks.TargetFinder with one range scan of
// webhooks_by_tenant_stage, which covers the query: the cost is the tenant's webhooks on that
// stage whatever the table holds.
func (s *Store) TargetsForStage(ctx context.Context, tenant, projectHash, stageUUID string) ([]stagehooks.Target, error) {
	if tenant == "" || projectHash == "" || stageUUID == "" {
		return nil, nil // the empty stage columns of notifications' webhooks
	}
	rows, err := s.stageTargets.QueryContext(ctx, tenant, projectHash, stageUUID)
	if err != nil {
		return nil, fmt.Errorf("query webhooks of stage %s: %w", stageUUID, err)
	}
	defer rows.Close()
	var targets []stagehooks.Target
	for rows.Next() {
		var t stagehooks.Target
		if err := rows.Scan(&t.TenantID, &t.WebhookID, &t.Enabled, &t.Ordered); err != nil {
			return nil, fmt.Errorf("read webhooks of stage %s: %w", stageUUID, err)
		}
		targets = append(targets, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query webhooks of stage %s: %w", stageUUID, err)
	}
	return targets, nil
}

// Endpoints implements delivery.EndpointSource with one query for all refs, whatever their
// number, stage webhooks and notifications' webhooks alike; a rotated-out secret is left out
// once it has expired. The refs go in
// as one JSON array of [tenant, id] pairs, and the CROSS JOIN makes
// SQLite walk that array and look each pair up by primary key. Each query pays the pure-Go
// driver's fixed cost, so ten refs took about 200 µs as ten lookups and take about 50 µs as one
// query (BenchmarkEndpoints). Webhooks that do not exist are absent from the map.
func (s *Store) Endpoints(ctx context.Context, refs []delivery.EndpointRef) (map[delivery.EndpointRef]delivery.Endpoint, error) {
	out := make(map[delivery.EndpointRef]delivery.Endpoint, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	pairs := make([][2]string, len(refs))
	for i, ref := range refs {
		pairs[i] = [2]string{ref.TenantID, ref.WebhookID}
	}
	keys, err := json.Marshal(pairs)
	if err != nil {
		return nil, fmt.Errorf("marshal %d webhook keys: %w", len(refs), err)
	}
	rows, err := s.endpoints.QueryContext(ctx, string(keys))
	if err != nil {
		return nil, fmt.Errorf("read %d webhooks: %w", len(refs), err)
	}
	defer rows.Close()
	now := s.now()
	for rows.Next() {
		var (
			ref               delivery.EndpointRef
			ep                delivery.Endpoint
			secrets, previous string
			failingSince      string
		)
		if err := rows.Scan(&ref.TenantID, &ref.WebhookID, &ep.URL, &ep.Enabled, &secrets, &previous, &failingSince, &ep.RateLimitPerSecond); err != nil {
			return nil, fmt.Errorf("read %d webhooks: %w", len(refs), err)
		}
		if err := json.Unmarshal([]byte(secrets), &ep.Secrets); err != nil {
			return nil, fmt.Errorf("unmarshal secrets of webhook %s: %w", ref.WebhookID, err)
		}
		expires, err := parseOptionalTime("previous_secret_expires_at", previous)
		if err != nil {
			return nil, fmt.Errorf("read webhook %s: %w", ref.WebhookID, err)
		}
		ep.Secrets = stagehooks.LiveSecrets(ep.Secrets, expires, now)
		if ep.FailingSince, err = parseOptionalTime("failing_since", failingSince); err != nil {
			return nil, fmt.Errorf("read webhook %s: %w", ref.WebhookID, err)
		}
		out[ref] = ep
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %d webhooks: %w", len(refs), err)
	}
	return out, nil
}

// DisableWebhook implements delivery.WebhookDisabler. A webhook deleted meanwhile is not an
// error: there is nothing left to disable. The webhook's version grows, and so does its
// notification's, if it has one: an API client holding the old version must re-read before
// writing, or it would enable the webhook again without having seen it disabled.
func (s *Store) DisableWebhook(ctx context.Context, ref delivery.EndpointRef, reason string) error {
	_, _, err := s.disable(ctx, ref, reason, "")
	return err
}

// disable turns ref off with reason if the extra WHERE condition (with its arguments) holds,
// bumps its notification's version, and returns the webhook as it now is; ok is false when
// nothing matched.
func (s *Store) disable(ctx context.Context, ref delivery.EndpointRef, reason, cond string, args ...any) (hook delivery.DisabledWebhook, ok bool, err error) {
	now, err := formatTime(s.now())
	if err != nil {
		return hook, false, fmt.Errorf("disable webhook %s: %w", ref.WebhookID, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return hook, false, fmt.Errorf("disable webhook %s: begin: %w", ref.WebhookID, err)
	}
	defer tx.Rollback()
	var since string
	err = tx.QueryRowContext(ctx, `UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ?, version = version + 1
		WHERE tenant_id = ? AND id = ?`+cond+` RETURNING notification_id, owner_id, url, alert_email, failing_since, failures`,
		append([]any{reason, now, ref.TenantID, ref.WebhookID}, args...)...).
		Scan(&hook.NotificationID, &hook.OwnerID, &hook.URL, &hook.AlertEmail, &since, &hook.Failures)
	if errors.Is(err, sql.ErrNoRows) {
		return hook, false, nil
	}
	if err != nil {
		return hook, false, fmt.Errorf("disable webhook %s: %w", ref.WebhookID, err)
	}
	if hook.NotificationID != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE notifications SET version = version + 1, updated_at = ? WHERE tenant_id = ? AND id = ?`,
			now, ref.TenantID, hook.NotificationID); err != nil {
			return hook, false, fmt.Errorf("disable webhook %s: bump version of notification %s: %w", ref.WebhookID, hook.NotificationID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return hook, false, fmt.Errorf("disable webhook %s: commit: %w", ref.WebhookID, err)
	}
	hook.TenantID, hook.WebhookID, hook.Reason = ref.TenantID, ref.WebhookID, reason
	hook.DisabledAt, _ = parseOptionalTime("updated_at", now)
	hook.FailingSince, _ = parseOptionalTime("failing_since", since)
	return hook, true, nil
}
