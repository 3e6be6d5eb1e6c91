package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
)

const rateLimitSchema = `CREATE TABLE IF NOT EXISTS rate_slots (
	tenant_id  TEXT    NOT NULL,
	webhook_id TEXT    NOT NULL,
	tat        INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, webhook_id)
) STRICT, WITHOUT ROWID`

// RateLimiter is the embedded delivery.RateLimiter: one row per webhook holding tat, the end
// of the slots handed out (Unix nanoseconds), moved in one upsert, so that every poller of the
// process shares the webhook's slots.
type RateLimiter struct {
	reserve, expire *sql.Stmt
}

var _ delivery.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter migrates the rate_slots table in db.
func NewRateLimiter(ctx context.Context, db *sql.DB) (*RateLimiter, error) {
	if err := sqlitedb.Migrate(ctx, db, "rate slots", rateLimitSchema); err != nil {
		return nil, err
	}
	reserve, err := db.PrepareContext(ctx, `INSERT INTO rate_slots (tenant_id, webhook_id, tat) VALUES (?1, ?2, ?3 + ?4)
		ON CONFLICT DO UPDATE SET tat = max(tat, ?3) + ?4 RETURNING tat`)
	if err != nil {
		return nil, fmt.Errorf("prepare rate slots: %w", err)
	}
	expire, err := db.PrepareContext(ctx, `DELETE FROM rate_slots WHERE tat < ?`)
	if err != nil {
		return nil, fmt.Errorf("prepare rate slots: %w", err)
	}
	return &RateLimiter{reserve: reserve, expire: expire}, nil
}

// rateSlotsIdle is how long a webhook's row outlives its last slot, as on DynamoDB.
const rateSlotsIdle = 24 * time.Hour

// Expire removes the rows of webhooks whose last slot passed a day before now: an idle
// webhook starts at now either way.
func (l *RateLimiter) Expire(ctx context.Context, now time.Time) (int64, error) {
	res, err := l.expire.ExecContext(ctx, now.Add(-rateSlotsIdle).UnixNano())
	if err != nil {
		return 0, fmt.Errorf("expire rate slots: %w", err)
	}
	return res.RowsAffected()
}

// Reserve implements delivery.RateLimiter.
func (l *RateLimiter) Reserve(ctx context.Context, ref delivery.EndpointRef, n int, interval time.Duration, now time.Time) (time.Time, error) {
	span := int64(n) * int64(interval)
	var end int64
	if err := l.reserve.QueryRowContext(ctx, ref.TenantID, ref.WebhookID, now.UnixNano(), span).Scan(&end); err != nil {
		return time.Time{}, fmt.Errorf("reserve %d slots of webhook %s: %w", n, ref.WebhookID, err)
	}
	return time.Unix(0, end-span), nil
}
