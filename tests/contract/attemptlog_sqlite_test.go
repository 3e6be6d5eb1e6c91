package contract_test

import (
	"testing"

	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/tests/contract"
)

var _ contract.AttemptQueryLog = (*sqlitestore.Store)(nil)

func TestSqliteAttemptQueries(t *testing.T) {
	contract.TestAttemptQueries(t, func(t *testing.T) contract.AttemptQueryLog { return newSqliteStore(t) })
}
