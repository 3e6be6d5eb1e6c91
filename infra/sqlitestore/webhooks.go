// Package sqlitestore stores Herald's configuration and delivery log in the single-machine
// runtime's SQLite database (see infra/sqlitedb). It is the embedded counterpart of
// infra/dynamo: the same methods, the same error kinds, the same contract suite
// (tests/contract), so the domain cannot tell which one it talks to.
//
// Webhooks table (the DynamoDB key design, one column per key part):
//
//	PRIMARY KEY (tenant_id, id)       every read names the tenant, so no key reaches another
//	                                  tenant's data
//	webhooks_by_stage (project_hash, stage_uuid, tenant_id, id, enabled)
//	                                  the router's lookup; it covers the query, so like the
//	                                  by_stage GSI it answers without touching the rows that
//	                                  hold the signing secrets
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

	insertWebhook, getWebhook, stageTargets, endpoints, disableWebhook *sql.Stmt
	insertAttempt, attemptsOfDelivery, sweep                           *sql.Stmt
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
	PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX IF NOT EXISTS webhooks_by_stage ON webhooks (project_hash, stage_uuid, tenant_id, id, enabled);
CREATE TABLE IF NOT EXISTS attempts (
	tenant_id        TEXT    NOT NULL,
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
	PRIMARY KEY (tenant_id, webhook_id, at, delivery_id, attempt)
) STRICT;
CREATE INDEX IF NOT EXISTS attempts_by_delivery ON attempts (tenant_id, delivery_id, attempt);
CREATE INDEX IF NOT EXISTS attempts_by_expiry ON attempts (expires_at)
`

// endpointsSQL reads the webhooks named by a JSON array of [tenant, id] pairs. A pair named
// twice matches twice; the map in Endpoints keeps one.
const endpointsSQL = `SELECT w.tenant_id, w.id, w.url, w.enabled, w.secrets
	FROM json_each(?) AS k CROSS JOIN webhooks AS w
	WHERE w.tenant_id = k.value ->> 0 AND w.id = k.value ->> 1`

// New migrates the schema in db and prepares the store's statements. The caller owns db and
// closes it after Close.
func New(ctx context.Context, db *sql.DB, opts Options) (*Store, error) {
	if opts.AttemptRetention <= 0 {
		opts.AttemptRetention = DefaultAttemptRetention
	}
	if err := sqlitedb.Migrate(ctx, db, "sqlitestore", schema); err != nil {
		return nil, err
	}
	s := &Store{db: db, retention: opts.AttemptRetention, now: time.Now}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&s.insertWebhook, `INSERT INTO webhooks (tenant_id, id, owner_id, project_hash, stage_uuid, stage_type, url,
			secrets, enabled, disabled_reason, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) DO NOTHING`},
		{&s.getWebhook, `SELECT id, tenant_id, owner_id, project_hash, stage_uuid, stage_type, url, secrets, enabled,
			disabled_reason, created_at, updated_at FROM webhooks WHERE tenant_id = ? AND id = ?`},
		{&s.stageTargets, `SELECT tenant_id, id, enabled FROM webhooks WHERE project_hash = ? AND stage_uuid = ?`},
		{&s.endpoints, endpointsSQL},
		{&s.disableWebhook, `UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`},
		{&s.insertAttempt, insertAttemptSQL},
		{&s.attemptsOfDelivery, attemptsOfDeliverySQL},
		{&s.sweep, sweepSQL},
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

// Close releases the prepared statements; it does not close the database. Closing the
// database releases them too, so Close matters only when the database outlives the Store.
func (s *Store) Close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{s.insertWebhook, s.getWebhook, s.stageTargets, s.endpoints, s.disableWebhook,
		s.insertAttempt, s.attemptsOfDelivery, s.sweep} {
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

// CreateWebhook stores a new webhook; ErrExists if its id is taken in its tenant.
func (s *Store) CreateWebhook(ctx context.Context, w stagehooks.Webhook) error {
	if err := w.Validate(); err != nil {
		return err
	}
	secrets, err := json.Marshal(w.Secrets)
	if err != nil {
		return fmt.Errorf("marshal secrets of webhook %s: %w", w.ID, err)
	}
	created, err := formatTime(w.CreatedAt)
	if err != nil {
		return fmt.Errorf("created_at of webhook %s: %w", w.ID, err)
	}
	updated, err := formatTime(w.UpdatedAt)
	if err != nil {
		return fmt.Errorf("updated_at of webhook %s: %w", w.ID, err)
	}
	// ON CONFLICT DO NOTHING turns a taken id into zero rows affected, so the conflict is told
	// apart from other failures without decoding driver error codes.
	res, err := s.insertWebhook.ExecContext(ctx, w.TenantID, w.ID, w.OwnerID, w.ProjectHash, w.StageUUID,
		string(w.StageType), w.URL, string(secrets), w.Enabled, w.DisabledReason, created, updated)
	if err != nil {
		return fmt.Errorf("create webhook %s: %w", w.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("create webhook %s: %w", w.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("create webhook %s: %w", w.ID, stagehooks.ErrExists)
	}
	return nil
}

// GetWebhook reads one webhook of a tenant.
func (s *Store) GetWebhook(ctx context.Context, tenant, id string) (stagehooks.Webhook, error) {
	var (
		w                        stagehooks.Webhook
		stageType, secrets       string
		createdText, updatedText string
	)
	err := s.getWebhook.QueryRowContext(ctx, tenant, id).Scan(&w.ID, &w.TenantID, &w.OwnerID, &w.ProjectHash,
		&w.StageUUID, &stageType, &w.URL, &secrets, &w.Enabled, &w.DisabledReason, &createdText, &updatedText)
	if errors.Is(err, sql.ErrNoRows) {
		return stagehooks.Webhook{}, fmt.Errorf("get webhook %s: %w", id, stagehooks.ErrNotFound)
	}
	if err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("get webhook %s: %w", id, err)
	}
	w.StageType = stagehooks.StageType(stageType)
	if err := json.Unmarshal([]byte(secrets), &w.Secrets); err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("unmarshal secrets of webhook %s: %w", id, err)
	}
	if w.CreatedAt, err = parseTime("created_at", createdText); err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("read webhook %s: %w", id, err)
	}
	if w.UpdatedAt, err = parseTime("updated_at", updatedText); err != nil {
		return stagehooks.Webhook{}, fmt.Errorf("read webhook %s: %w", id, err)
	}
	return w, nil
}

// TargetsForStage implements stagehooks.TargetFinder with one range scan of webhooks_by_stage,
// which covers the query: the cost is the stage's own webhooks whatever the table holds.
func (s *Store) TargetsForStage(ctx context.Context, projectHash, stageUUID string) ([]stagehooks.Target, error) {
	rows, err := s.stageTargets.QueryContext(ctx, projectHash, stageUUID)
	if err != nil {
		return nil, fmt.Errorf("query webhooks of stage %s: %w", stageUUID, err)
	}
	defer rows.Close()
	var targets []stagehooks.Target
	for rows.Next() {
		var t stagehooks.Target
		if err := rows.Scan(&t.TenantID, &t.WebhookID, &t.Enabled); err != nil {
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
// number: the refs go in as one JSON array of [tenant, id] pairs, and the CROSS JOIN makes
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
	for rows.Next() {
		var (
			ref     delivery.EndpointRef
			ep      delivery.Endpoint
			secrets string
		)
		if err := rows.Scan(&ref.TenantID, &ref.WebhookID, &ep.URL, &ep.Enabled, &secrets); err != nil {
			return nil, fmt.Errorf("read %d webhooks: %w", len(refs), err)
		}
		if err := json.Unmarshal([]byte(secrets), &ep.Secrets); err != nil {
			return nil, fmt.Errorf("unmarshal secrets of webhook %s: %w", ref.WebhookID, err)
		}
		out[ref] = ep
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %d webhooks: %w", len(refs), err)
	}
	return out, nil
}

// DisableWebhook implements delivery.WebhookDisabler. A webhook deleted meanwhile is not an
// error: there is nothing left to disable.
func (s *Store) DisableWebhook(ctx context.Context, ref delivery.EndpointRef, reason string) error {
	now, err := formatTime(s.now())
	if err != nil {
		return fmt.Errorf("disable webhook %s: %w", ref.WebhookID, err)
	}
	if _, err := s.disableWebhook.ExecContext(ctx, reason, now, ref.TenantID, ref.WebhookID); err != nil {
		return fmt.Errorf("disable webhook %s: %w", ref.WebhookID, err)
	}
	return nil
}
