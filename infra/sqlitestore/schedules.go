package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/digest"
)

// Digest schedules (the DynamoDB design: one row per notification with digests, its earliest
// due time indexed):
//
//	PRIMARY KEY (tenant_id, notification_id)
//	digest_schedules_due (next_due, tenant_id, notification_id)   what a run reads
//
// Times are Unix milliseconds; slots is a JSON object of slot key to next due time.
const scheduleSchema = `CREATE TABLE IF NOT EXISTS digest_schedules (
	tenant_id       TEXT    NOT NULL,
	notification_id TEXT    NOT NULL,
	next_due        INTEGER NOT NULL,
	slots           TEXT    NOT NULL CHECK (json_valid(slots)),
	lease_owner     TEXT    NOT NULL DEFAULT '',
	lease_until     INTEGER NOT NULL DEFAULT 0,
	revision        INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, notification_id)
) STRICT;
CREATE INDEX IF NOT EXISTS digest_schedules_due ON digest_schedules (next_due, tenant_id, notification_id)`

const schedulePage = 500

// Schedules is the embedded digest.ScheduleStore.
type Schedules struct {
	db                                  *sql.DB
	get, put, del, page, claim, advance *sql.Stmt
}

var _ digest.ScheduleStore = (*Schedules)(nil)

// NewSchedules migrates the digest_schedules table in db and prepares the store's
// statements. The caller owns db and closes it after Close.
func NewSchedules(ctx context.Context, db *sql.DB) (*Schedules, error) {
	if err := sqlitedb.Migrate(ctx, db, "sqlitestore digest schedules", scheduleSchema); err != nil {
		return nil, err
	}
	if err := sqlitedb.AddMissingColumns(ctx, db, "digest_schedules", "revision INTEGER NOT NULL DEFAULT 0"); err != nil {
		return nil, err
	}
	s := &Schedules{db: db}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&s.get, `SELECT next_due, slots, revision, lease_owner FROM digest_schedules WHERE tenant_id = ? AND notification_id = ?`},
		// A run's lease is left as it is: the run's Advance still applies, and the next run
		// plans from the notification as it then is.
		{&s.put, `INSERT INTO digest_schedules (tenant_id, notification_id, next_due, slots, revision) VALUES (?, ?, ?, ?, 1)
			ON CONFLICT (tenant_id, notification_id) DO UPDATE SET next_due = excluded.next_due, slots = excluded.slots, revision = revision + 1`},
		{&s.del, `DELETE FROM digest_schedules WHERE tenant_id = ? AND notification_id = ?`},
		{&s.page, `SELECT tenant_id, notification_id, next_due, slots, revision FROM digest_schedules
			WHERE next_due <= ? AND (next_due, tenant_id, notification_id) > (?, ?, ?)
			ORDER BY next_due, tenant_id, notification_id LIMIT ?`},
		{&s.claim, `UPDATE digest_schedules SET lease_owner = ?, lease_until = ?
			WHERE tenant_id = ? AND notification_id = ? AND next_due = ? AND (lease_owner = '' OR lease_until <= ?)
			RETURNING next_due, slots, revision`},
		{&s.advance, `UPDATE digest_schedules SET next_due = ?, slots = ?, lease_owner = '', lease_until = 0
			WHERE tenant_id = ? AND notification_id = ? AND lease_owner = ? AND revision = ?`},
	} {
		stmt, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("prepare digest schedule statement: %w", err)
		}
		*p.stmt = stmt
	}
	return s, nil
}

// Close releases the prepared statements; it does not close the database.
func (s *Schedules) Close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{s.get, s.put, s.del, s.page, s.claim, s.advance} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close digest schedule statements: %w", err)
	}
	return nil
}

func encodeSlots(slots map[string]time.Time) (string, error) {
	ms := make(map[string]int64, len(slots))
	for k, t := range slots {
		ms[k] = t.UnixMilli()
	}
	b, err := json.Marshal(ms)
	if err != nil {
		return "", fmt.Errorf("encode digest slots: %w", err)
	}
	return string(b), nil
}

// setStored sets sc's due time and slots from their stored forms.
func setStored(sc *digest.Schedule, nextDue int64, slots string) error {
	m, err := decodeSlots(slots)
	if err != nil {
		return err
	}
	sc.NextDue, sc.Slots = time.UnixMilli(nextDue).UTC(), m
	return nil
}

func decodeSlots(raw string) (map[string]time.Time, error) {
	var ms map[string]int64
	if err := json.Unmarshal([]byte(raw), &ms); err != nil {
		return nil, fmt.Errorf("decode digest slots: %w", err)
	}
	out := make(map[string]time.Time, len(ms))
	for k, v := range ms {
		out[k] = time.UnixMilli(v).UTC()
	}
	return out, nil
}

// GetSchedule implements digest.ScheduleStore.
func (s *Schedules) GetSchedule(ctx context.Context, tenant, notificationID string) (digest.Schedule, bool, error) {
	sc := digest.Schedule{TenantID: tenant, NotificationID: notificationID}
	var next int64
	var slots string
	err := s.get.QueryRowContext(ctx, tenant, notificationID).Scan(&next, &slots, &sc.Revision, &sc.LeaseOwner)
	if errors.Is(err, sql.ErrNoRows) {
		return digest.Schedule{}, false, nil
	}
	if err == nil {
		err = setStored(&sc, next, slots)
	}
	if err != nil {
		return digest.Schedule{}, false, fmt.Errorf("read digest schedule of %s: %w", notificationID, err)
	}
	return sc, true, nil
}

// PutSchedule implements digest.ScheduleStore.
func (s *Schedules) PutSchedule(ctx context.Context, sc digest.Schedule) error {
	if len(sc.Slots) == 0 {
		return s.DeleteSchedule(ctx, sc.TenantID, sc.NotificationID)
	}
	slots, err := encodeSlots(sc.Slots)
	if err != nil {
		return err
	}
	if _, err := s.put.ExecContext(ctx, sc.TenantID, sc.NotificationID, sc.NextDue.UnixMilli(), slots); err != nil {
		return fmt.Errorf("write digest schedule of %s: %w", sc.NotificationID, err)
	}
	return nil
}

// DeleteSchedule implements digest.ScheduleStore.
func (s *Schedules) DeleteSchedule(ctx context.Context, tenant, notificationID string) error {
	if _, err := s.del.ExecContext(ctx, tenant, notificationID); err != nil {
		return fmt.Errorf("delete digest schedule of %s: %w", notificationID, err)
	}
	return nil
}

// Due implements digest.ScheduleStore, a page at a time along the due index.
func (s *Schedules) Due(ctx context.Context, now time.Time) iter.Seq2[digest.Schedule, error] {
	return func(yield func(digest.Schedule, error) bool) {
		afterDue, afterTenant, afterID := int64(-1<<62), "", ""
		for {
			page, err := s.duePage(ctx, now, afterDue, afterTenant, afterID)
			if err != nil {
				yield(digest.Schedule{}, err)
				return
			}
			for _, sc := range page {
				if !yield(sc, nil) {
					return
				}
			}
			if len(page) < schedulePage {
				return
			}
			last := page[len(page)-1]
			afterDue, afterTenant, afterID = last.NextDue.UnixMilli(), last.TenantID, last.NotificationID
		}
	}
}

func (s *Schedules) duePage(ctx context.Context, now time.Time, afterDue int64, afterTenant, afterID string) ([]digest.Schedule, error) {
	rows, err := s.page.QueryContext(ctx, now.UnixMilli(), afterDue, afterTenant, afterID, schedulePage)
	if err != nil {
		return nil, fmt.Errorf("list due digest schedules: %w", err)
	}
	defer rows.Close()
	var out []digest.Schedule
	for rows.Next() {
		var sc digest.Schedule
		var next int64
		var slots string
		if err := rows.Scan(&sc.TenantID, &sc.NotificationID, &next, &slots, &sc.Revision); err != nil {
			return nil, fmt.Errorf("list due digest schedules: %w", err)
		}
		if err := setStored(&sc, next, slots); err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list due digest schedules: %w", err)
	}
	return out, nil
}

// Claim implements digest.ScheduleStore with one conditional UPDATE.
func (s *Schedules) Claim(ctx context.Context, sc digest.Schedule, owner string, now, until time.Time) (digest.Schedule, bool, error) {
	claimed := digest.Schedule{TenantID: sc.TenantID, NotificationID: sc.NotificationID, LeaseOwner: owner}
	var next int64
	var slots string
	err := s.claim.QueryRowContext(ctx, owner, until.UnixMilli(), sc.TenantID, sc.NotificationID, sc.NextDue.UnixMilli(), now.UnixMilli()).
		Scan(&next, &slots, &claimed.Revision)
	if errors.Is(err, sql.ErrNoRows) {
		return digest.Schedule{}, false, nil
	}
	if err == nil {
		err = setStored(&claimed, next, slots)
	}
	if err != nil {
		return digest.Schedule{}, false, fmt.Errorf("claim digest schedule of %s: %w", sc.NotificationID, err)
	}
	return claimed, true, nil
}

// Advance implements digest.ScheduleStore with one conditional UPDATE.
func (s *Schedules) Advance(ctx context.Context, sc digest.Schedule, owner string) (bool, error) {
	slots, err := encodeSlots(sc.Slots)
	if err != nil {
		return false, err
	}
	res, err := s.advance.ExecContext(ctx, sc.NextDue.UnixMilli(), slots, sc.TenantID, sc.NotificationID, owner, sc.Revision)
	if err != nil {
		return false, fmt.Errorf("advance digest schedule of %s: %w", sc.NotificationID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
