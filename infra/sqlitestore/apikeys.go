package sqlitestore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
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
) STRICT;
CREATE TABLE IF NOT EXISTS sign_in_codes (
	hash       BLOB PRIMARY KEY,
	tenant_id  TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT`

// SignInCodeTTL is how long a console sign-in link works (once).
const SignInCodeTTL = 15 * time.Minute

// APIKeys keeps the single-machine runtime's API keys, hashed.
type APIKeys struct {
	db *sql.DB
}

var (
	_ httpapi.APIKeyStore   = (*APIKeys)(nil)
	_ httpapi.ConsoleSignIn = (*APIKeys)(nil)
)

// NewAPIKeys opens the API key table in db.
func NewAPIKeys(ctx context.Context, db *sql.DB) (*APIKeys, error) {
	if err := sqlitedb.Migrate(ctx, db, "api keys", apiKeySchema); err != nil {
		return nil, err
	}
	return &APIKeys{db: db}, nil
}

// CreateAPIKey stores a key made by httpapi.NewAPIKey.
func (k *APIKeys) CreateAPIKey(ctx context.Context, key httpapi.APIKey) error {
	return insertAPIKey(ctx, k.db, key)
}

func insertAPIKey(ctx context.Context, db interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}, key httpapi.APIKey) error {
	_, err := db.ExecContext(ctx, `INSERT INTO api_keys (id, tenant_id, user_id, hash, created_at) VALUES (?, ?, ?, ?, ?)`,
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

// CreateSignInCode makes the one-time code of a console sign-in link for tenant and user;
// only its hash is stored.
func (k *APIKeys) CreateSignInCode(ctx context.Context, tenant, user string, now time.Time) (string, error) {
	if !stagehooks.ValidID(tenant) || !stagehooks.ValidID(user) {
		return "", httpapi.ErrInvalidPrincipal
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate sign-in code: %w", err)
	}
	code := base64.RawURLEncoding.EncodeToString(raw)
	// Expired codes are dropped as new ones are made: the table stays as small as its use.
	if _, err := k.db.ExecContext(ctx, `DELETE FROM sign_in_codes WHERE expires_at <= ?`, now.Unix()); err != nil {
		return "", fmt.Errorf("drop expired sign-in codes: %w", err)
	}
	_, err := k.db.ExecContext(ctx, `INSERT INTO sign_in_codes (hash, tenant_id, user_id, expires_at) VALUES (?, ?, ?, ?)`,
		codeHash(code), tenant, user, now.Add(SignInCodeTTL).Unix())
	if err != nil {
		return "", fmt.Errorf("store sign-in code: %w", err)
	}
	return code, nil
}

// RedeemSignInCode implements httpapi.ConsoleSignIn: the code is deleted as it is read, so it
// works once, and a new API key is made and stored in the same transaction.
func (k *APIKeys) RedeemSignInCode(ctx context.Context, code string) (httpapi.SignedIn, error) {
	tx, err := k.db.BeginTx(ctx, nil)
	if err != nil {
		return httpapi.SignedIn{}, fmt.Errorf("redeem sign-in code: %w", err)
	}
	defer tx.Rollback()
	var signed httpapi.SignedIn
	err = tx.QueryRowContext(ctx, `DELETE FROM sign_in_codes WHERE hash = ? AND expires_at > ? RETURNING tenant_id, user_id`,
		codeHash(code), time.Now().Unix()).Scan(&signed.TenantID, &signed.UserID)
	if errors.Is(err, sql.ErrNoRows) {
		return httpapi.SignedIn{}, httpapi.ErrSignInCodeInvalid
	}
	if err != nil {
		return httpapi.SignedIn{}, fmt.Errorf("redeem sign-in code: %w", err)
	}
	plaintext, key, err := httpapi.NewAPIKey(signed.TenantID, signed.UserID, time.Now())
	if err != nil {
		return httpapi.SignedIn{}, err
	}
	if err := insertAPIKey(ctx, tx, key); err != nil {
		return httpapi.SignedIn{}, err
	}
	if err := tx.Commit(); err != nil {
		return httpapi.SignedIn{}, fmt.Errorf("redeem sign-in code: %w", err)
	}
	signed.APIKey = plaintext
	return signed, nil
}

func codeHash(code string) []byte {
	sum := sha256.Sum256([]byte(code))
	return sum[:]
}
