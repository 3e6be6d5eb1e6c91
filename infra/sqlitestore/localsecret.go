package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"

	"github.com/heraldhq/herald/infra/sqlitedb"
)

const localSecretsSchema = `
CREATE TABLE IF NOT EXISTS local_secrets (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
) STRICT
`

// LocalSecret returns the machine's secret named name, making it (n random bytes) on first use.
// It stands in for a deployment parameter that must stay the same across restarts: the key
// that signs the unsubscribe links of emails already sent, say.
func LocalSecret(ctx context.Context, db *sql.DB, name string, n int) ([]byte, error) {
	if err := sqlitedb.Migrate(ctx, db, "sqlitestore local secrets", localSecretsSchema); err != nil {
		return nil, err
	}
	fresh := make([]byte, n)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("make local secret %s: %w", name, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO local_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, fresh); err != nil {
		return nil, fmt.Errorf("store local secret %s: %w", name, err)
	}
	var value []byte
	if err := db.QueryRowContext(ctx, `SELECT value FROM local_secrets WHERE name = ?`, name).Scan(&value); err != nil {
		return nil, fmt.Errorf("read local secret %s: %w", name, err)
	}
	return value, nil
}
