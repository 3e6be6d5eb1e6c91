package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/infra/httpapi"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/stagehooks"
)

const apiKeySchema = `CREATE TABLE IF NOT EXISTS api_keys (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	hash       BLOB NOT NULL,
	created_at TEXT NOT NULL
) STRICT`

// APIKeys keeps the single-machine runtime's API keys, hashed.
type APIKeys struct {
	db *sql.DB
}

var _ httpapi.APIKeyStore = (*APIKeys)(nil)

// NewAPIKeys opens the API key table in db.
func NewAPIKeys(ctx context.Context, db *sql.DB) (*APIKeys, error) {
	if err := sqlitedb.Migrate(ctx, db, "api keys", apiKeySchema); err != nil {
		return nil, err
	}
	return &APIKeys{db: db}, nil
}

// CreateAPIKey stores a key made by httpapi.NewAPIKey.
func (k *APIKeys) CreateAPIKey(ctx context.Context, key httpapi.APIKey) error {
	_, err := k.db.ExecContext(ctx, `INSERT INTO api_keys (id, tenant_id, user_id, hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		key.ID, key.TenantID, key.UserID, key.Hash, key.CreatedAt.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("store API key %s: %w", key.ID, err)
	}
	return nil
}

// APIKey implements httpapi.APIKeyStore.
func (k *APIKeys) APIKey(ctx context.Context, id string) (httpapi.APIKey, error) {
	var key httpapi.APIKey
	var created string
	err := k.db.QueryRowContext(ctx, `SELECT id, tenant_id, user_id, hash, created_at FROM api_keys WHERE id = ?`, id).
		Scan(&key.ID, &key.TenantID, &key.UserID, &key.Hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return httpapi.APIKey{}, fmt.Errorf("API key %s: %w", id, stagehooks.ErrNotFound)
	}
	if err != nil {
		return httpapi.APIKey{}, fmt.Errorf("read API key %s: %w", id, err)
	}
	key.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	return key, nil
}
