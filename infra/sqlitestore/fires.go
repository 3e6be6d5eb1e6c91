package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
)

const firesSchema = `CREATE TABLE IF NOT EXISTS schedule_fires (
	schedule  TEXT    NOT NULL PRIMARY KEY,
	last_fire INTEGER NOT NULL
) STRICT`

// FireLog keeps the local scheduler's last fire time of each schedule (localscheduler.FireLog),
// in Unix microseconds.
type FireLog struct{ db *sql.DB }

// NewFireLog opens the fire log in db.
func NewFireLog(ctx context.Context, db *sql.DB) (*FireLog, error) {
	if err := sqlitedb.Migrate(ctx, db, "schedule fires", firesSchema); err != nil {
		return nil, err
	}
	return &FireLog{db: db}, nil
}

// LastFire returns the schedule's last recorded fire time.
func (f *FireLog) LastFire(ctx context.Context, key string) (time.Time, bool, error) {
	var us int64
	err := f.db.QueryRowContext(ctx, `SELECT last_fire FROM schedule_fires WHERE schedule = ?`, key).Scan(&us)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("read last fire of %s: %w", key, err)
	}
	return time.UnixMicro(us).UTC(), true, nil
}

// RecordFire records at as the schedule's last fire time.
func (f *FireLog) RecordFire(ctx context.Context, key string, at time.Time) error {
	if _, err := f.db.ExecContext(ctx, `INSERT INTO schedule_fires (schedule, last_fire) VALUES (?, ?)
		ON CONFLICT (schedule) DO UPDATE SET last_fire = excluded.last_fire`, key, at.UnixMicro()); err != nil {
		return fmt.Errorf("record fire of %s: %w", key, err)
	}
	return nil
}
