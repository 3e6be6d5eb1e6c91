package sqlitestore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/infra/httpapi"
	"github.com/heraldhq/herald/infra/sqlitedb"
)

const idempotencySchema = `CREATE TABLE IF NOT EXISTS idempotency_keys (
	tenant_id   TEXT    NOT NULL,
	key_hash    TEXT    NOT NULL,
	fingerprint TEXT    NOT NULL,
	status      INTEGER,
	header      TEXT,
	body        BLOB,
	expires_at  INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, key_hash)
) STRICT;
CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires_at)`

// Idempotency keeps the API's Idempotency-Key records, so a retried create replays its first
// response across restarts of the single-machine runtime too.
type Idempotency struct {
	db  *sql.DB
	ttl time.Duration
	// doneTTL, when set, is how long a finished record lasts, apart from a claim's ttl.
	doneTTL time.Duration
	now     func() time.Time
}

var _ httpapi.IdempotencyStore = (*Idempotency)(nil)

// NewIdempotency opens the idempotency table in db, remembering keys for ttl.
func NewIdempotency(ctx context.Context, db *sql.DB, ttl time.Duration) (*Idempotency, error) {
	if err := sqlitedb.Migrate(ctx, db, "idempotency keys", idempotencySchema); err != nil {
		return nil, err
	}
	return &Idempotency{db: db, ttl: ttl, now: time.Now}, nil
}

func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Begin implements httpapi.IdempotencyStore: one statement claims an absent or expired key;
// otherwise the stored record is read back.
func (s *Idempotency) Begin(ctx context.Context, tenant, key, fingerprint string) (httpapi.StoredResponse, bool, error) {
	now := s.now()
	res, err := s.db.ExecContext(ctx, `INSERT INTO idempotency_keys (tenant_id, key_hash, fingerprint, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant_id, key_hash) DO UPDATE SET fingerprint = excluded.fingerprint, status = NULL, header = NULL,
		body = NULL, expires_at = excluded.expires_at WHERE idempotency_keys.expires_at < ?`,
		tenant, keyHash(key), fingerprint, now.Add(s.ttl).Unix(), now.Unix())
	if err != nil {
		return httpapi.StoredResponse{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return httpapi.StoredResponse{}, false, fmt.Errorf("claim idempotency key: %w", err)
	} else if n == 1 {
		return httpapi.StoredResponse{}, true, nil
	}
	var r httpapi.StoredResponse
	var status sql.NullInt64
	var header sql.NullString
	err = s.db.QueryRowContext(ctx, `SELECT fingerprint, status, header, body FROM idempotency_keys WHERE tenant_id = ? AND key_hash = ?`,
		tenant, keyHash(key)).Scan(&r.Fingerprint, &status, &header, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return httpapi.StoredResponse{}, false, fmt.Errorf("read idempotency key: it vanished between claim and read")
	}
	if err != nil {
		return httpapi.StoredResponse{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	if status.Valid {
		r.Done, r.Status = true, int(status.Int64)
		if header.Valid {
			_ = json.Unmarshal([]byte(header.String), &r.Header)
		}
	}
	return r, false, nil
}

// Finish implements httpapi.IdempotencyStore.
func (s *Idempotency) Finish(ctx context.Context, tenant, key string, resp httpapi.StoredResponse) error {
	header, err := json.Marshal(resp.Header)
	if err != nil {
		return fmt.Errorf("encode stored response headers: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `UPDATE idempotency_keys SET status = ?, header = ?, body = ?, expires_at = ? WHERE tenant_id = ? AND key_hash = ?`,
		resp.Status, string(header), resp.Body, s.now().Add(s.finishedTTL()).Unix(), tenant, keyHash(key))
	if err != nil {
		return fmt.Errorf("store idempotent response: %w", err)
	}
	return nil
}

// Expire deletes the keys whose time is up, as DynamoDB's TTL does on AWS, and returns how
// many. Begin already ignores them; this keeps the table the size of a day's creates.
func (s *Idempotency) Expire(ctx context.Context) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE expires_at < ?`, s.now().Unix())
	if err != nil {
		return 0, fmt.Errorf("expire idempotency keys: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("expire idempotency keys: %w", err)
	}
	return int(n), nil
}

// Abandon implements httpapi.IdempotencyStore.
func (s *Idempotency) Abandon(ctx context.Context, tenant, key string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE tenant_id = ? AND key_hash = ?`, tenant, keyHash(key)); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// KeepDoneFor returns the store with finished records kept for d, while a claim not finished
// (its holder crashed) still lapses after the store's ttl: a short lease, a long memory.
func (s *Idempotency) KeepDoneFor(d time.Duration) *Idempotency {
	c := *s
	c.doneTTL = d
	return &c
}

func (s *Idempotency) finishedTTL() time.Duration {
	if s.doneTTL > 0 {
		return s.doneTTL
	}
	return s.ttl
}
