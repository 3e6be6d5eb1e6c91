package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
)

// Attempts table (the DynamoDB key design, one column per key part):
//
//	PRIMARY KEY (tenant_id, webhook_id, at, delivery_id, attempt)
//	                                  a webhook's attempts in time order (at is fixed width)
//	attempts_by_delivery (tenant_id, delivery_id, attempt)
//	                                  one delivery with all its attempts
//	attempts_by_expiry (expires_at)   what Sweep deletes, found without a full scan
//	expires_at                        epoch seconds, DynamoDB's TTL attribute; Sweep is the TTL
//
// Latency is kept in whole milliseconds and a zero NextAttemptAt as NULL, exactly as the
// DynamoDB adapter keeps them, so a record reads back the same from either store. The payload
// is a BLOB, NULL when not logged, so it reads back byte for byte.

// insertPayloadAttemptSQL overwrites a record with the same key, as DynamoDB's PutItem does,
// so a batch replayed after a crash between commit and acknowledgement is harmless.
const insertPayloadAttemptSQL = `INSERT INTO attempts (tenant_id, kind, owner_id, webhook_id, at, delivery_id, attempt, event_type,
	status_code, latency_ms, error_class, response_snippet, outcome, next_attempt_at, expires_at, payload)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (tenant_id, webhook_id, at, delivery_id, attempt) DO UPDATE SET
	kind = excluded.kind, owner_id = excluded.owner_id, event_type = excluded.event_type, status_code = excluded.status_code, latency_ms = excluded.latency_ms,
	error_class = excluded.error_class, response_snippet = excluded.response_snippet, outcome = excluded.outcome,
	next_attempt_at = excluded.next_attempt_at, expires_at = excluded.expires_at, payload = excluded.payload`

const attemptColumnsSQL = `tenant_id, kind, owner_id, webhook_id, delivery_id, event_type, attempt, at, status_code, latency_ms,
	error_class, response_snippet, outcome, next_attempt_at, payload`

// attemptsOfDeliveryByTimeSQL reads one delivery through attempts_by_delivery; ordering its
// few rows by time puts each redelivery's attempts, numbered from 1 again, after the earlier.
const attemptsOfDeliveryByTimeSQL = `SELECT ` + attemptColumnsSQL + `
	FROM attempts WHERE tenant_id = ? AND delivery_id = ? ORDER BY at, attempt`

// attemptsOfWebhookSQL reads one webhook's attempts backwards along the primary key, from
// the cursor's row value (exclusive) down to Since, filtered by outcome; the conditions whose
// part of the query is unset are left out.
const attemptsOfWebhookSQL = `SELECT ` + attemptColumnsSQL + `
	FROM attempts WHERE tenant_id = ? AND webhook_id = ?`

const (
	attemptsSinceSQL       = ` AND at >= ?`
	attemptsAfterSQL       = ` AND (at, delivery_id, attempt) < (?, ?, ?)`
	attemptsOutcomeSQL     = ` AND outcome = ?`
	attemptsNewestFirstSQL = ` ORDER BY at DESC, delivery_id DESC, attempt DESC LIMIT ?`
)

// sweepBatch bounds one Sweep transaction. Deleting 1,000 rows and their three index entries
// holds the write lock for 5 to 25 ms (fsync included), so the delivery path's writers, which
// wait up to the 5 s busy_timeout, barely notice a sweep, even the first one after a month
// offline; one unbounded DELETE of a month's attempts could hold it for seconds.
const sweepBatch = 1000

const sweepSQL = `DELETE FROM attempts WHERE rowid IN
	(SELECT rowid FROM attempts WHERE expires_at < ? LIMIT ?)`

var _ delivery.AttemptReader = (*Store)(nil)

// RecordAttempts implements delivery.AttemptLog: the whole batch in one transaction, shared
// with the queues' writes of the same moment (sqlitedb's group commit), and not synced on its
// own with synchronous=FULL (sqlitedb.WriteUnsynced). The delivery path deletes the batch's
// messages after recording them, and SQLite replays commits in order after a power cut: a cut
// that takes the records takes the deletes too, and the deliveries are made and recorded
// again.
func (s *Store) RecordAttempts(ctx context.Context, attempts []delivery.Attempt) error {
	if len(attempts) == 0 {
		return nil
	}
	type row struct {
		at, next string
		expires  int64
	}
	// Times are checked before the transaction, so a bad record costs no write lock.
	rows := make([]row, len(attempts))
	for i, a := range attempts {
		at, err := formatTime(a.At)
		if err != nil {
			return fmt.Errorf("attempt %d of %s: %w", a.Number, a.DeliveryID, err)
		}
		rows[i] = row{at: at, expires: a.At.Add(s.retention).Unix()}
		if !a.NextAttemptAt.IsZero() {
			if rows[i].next, err = formatTime(a.NextAttemptAt); err != nil {
				return fmt.Errorf("attempt %d of %s: %w", a.Number, a.DeliveryID, err)
			}
		}
	}
	err := sqlitedb.WriteUnsynced(ctx, s.db, func(ctx context.Context, tx *sql.Tx) error {
		insert := tx.StmtContext(ctx, s.insertAttempt)
		for i, a := range attempts {
			var next sql.NullString
			if rows[i].next != "" {
				next = sql.NullString{String: rows[i].next, Valid: true}
			}
			var payload any // NULL, not an empty BLOB, when the payload was not logged
			if len(a.Payload) > 0 {
				payload = []byte(a.Payload)
			}
			if _, err := insert.ExecContext(ctx, a.TenantID, string(a.Kind), a.OwnerID, a.WebhookID, rows[i].at, a.DeliveryID, a.Number, a.EventType,
				a.StatusCode, a.Latency.Milliseconds(), string(a.ErrorClass), a.ResponseSnippet, string(a.Outcome),
				next, rows[i].expires, payload); err != nil {
				return fmt.Errorf("attempt %d of %s: %w", a.Number, a.DeliveryID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %d attempts: %w", len(attempts), err)
	}
	return nil
}

// AttemptsOfDelivery returns every recorded attempt of one delivery in time order: attempt
// order, each redelivery's attempts (numbered from 1 again) after the earlier ones.
func (s *Store) AttemptsOfDelivery(ctx context.Context, tenant, deliveryID string) ([]delivery.Attempt, error) {
	rows, err := s.attemptsOfDelivery.QueryContext(ctx, tenant, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("query attempts of delivery %s: %w", deliveryID, err)
	}
	out, err := scanAttempts(rows)
	if err != nil {
		return nil, fmt.Errorf("read attempts of delivery %s: %w", deliveryID, err)
	}
	return out, nil
}

// AttemptsOfWebhook returns one page of a webhook's attempts, newest first: one range read of
// the primary key, which orders a webhook's attempts as DynamoDB's sort key does. It reads one
// attempt beyond the page, so a cursor is returned only when more follow.
func (s *Store) AttemptsOfWebhook(ctx context.Context, tenant, webhookID string, q delivery.AttemptQuery) (delivery.AttemptPage, error) {
	limit, after, err := q.Resolve(tenant, webhookID)
	if err != nil {
		return delivery.AttemptPage{}, fmt.Errorf("list attempts of webhook %s: %w", webhookID, err)
	}
	query, args, err := attemptsOfWebhookQuery(tenant, webhookID, q, after, limit+1)
	if err != nil {
		return delivery.AttemptPage{}, fmt.Errorf("list attempts of webhook %s: %w", webhookID, err)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return delivery.AttemptPage{}, fmt.Errorf("query attempts of webhook %s: %w", webhookID, err)
	}
	items, err := scanAttempts(rows)
	if err != nil {
		return delivery.AttemptPage{}, fmt.Errorf("read attempts of webhook %s: %w", webhookID, err)
	}
	if len(items) <= limit {
		return delivery.AttemptPage{Items: items}, nil
	}
	return delivery.AttemptPage{Items: items[:limit], NextCursor: delivery.NextCursor(tenant, webhookID, items[limit-1])}, nil
}

func attemptsOfWebhookQuery(tenant, webhookID string, q delivery.AttemptQuery, after *delivery.AttemptKey, n int) (string, []any, error) {
	query := attemptsOfWebhookSQL
	args := []any{tenant, webhookID}
	if !q.Since.IsZero() {
		since, err := formatTime(q.Since)
		if err != nil {
			return "", nil, err
		}
		query += attemptsSinceSQL
		args = append(args, since)
	}
	if after != nil {
		at, err := formatTime(after.At)
		if err != nil {
			return "", nil, err
		}
		query += attemptsAfterSQL
		args = append(args, at, after.DeliveryID, after.Number)
	}
	if q.Outcome != "" {
		query += attemptsOutcomeSQL
		args = append(args, string(q.Outcome))
	}
	return query + attemptsNewestFirstSQL, append(args, n), nil
}

// scanAttempts reads rows of attemptColumnsSQL and closes them.
func scanAttempts(rows *sql.Rows) ([]delivery.Attempt, error) {
	defer rows.Close()
	var out []delivery.Attempt
	for rows.Next() {
		var (
			a                         delivery.Attempt
			at                        string
			latencyMS                 int64
			kind, errorClass, outcome string
			next                      sql.NullString
			payload                   []byte
		)
		if err := rows.Scan(&a.TenantID, &kind, &a.OwnerID, &a.WebhookID, &a.DeliveryID, &a.EventType, &a.Number, &at, &a.StatusCode,
			&latencyMS, &errorClass, &a.ResponseSnippet, &outcome, &next, &payload); err != nil {
			return nil, err
		}
		var err error
		if a.At, err = parseTime("at", at); err != nil {
			return nil, fmt.Errorf("attempt %d of %s: %w", a.Number, a.DeliveryID, err)
		}
		if next.Valid {
			if a.NextAttemptAt, err = parseTime("next_attempt_at", next.String); err != nil {
				return nil, fmt.Errorf("attempt %d of %s: %w", a.Number, a.DeliveryID, err)
			}
		}
		a.Latency = time.Duration(latencyMS) * time.Millisecond
		a.Kind, a.ErrorClass, a.Outcome, a.Payload = delivery.Kind(kind), delivery.Class(errorClass), delivery.Outcome(outcome), payload
		out = append(out, a)
	}
	return out, rows.Err()
}

// Sweep deletes the attempts whose expires_at is past at now and returns how many it deleted:
// DynamoDB's TTL, run by the caller on a timer. It deletes in transactions of sweepBatch rows,
// so it never holds the write lock for long; on an error (a cancelled ctx included) it returns
// the count deleted so far with the error, and the next Sweep carries on.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		res, err := s.sweep.ExecContext(ctx, now.Unix(), sweepBatch)
		if err != nil {
			return total, fmt.Errorf("sweep attempts expired before %s: %w", now.UTC().Format(time.RFC3339), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sweep attempts expired before %s: %w", now.UTC().Format(time.RFC3339), err)
		}
		total += int(n)
		if n < sweepBatch {
			return total, nil
		}
	}
}
