package contract_test

import (
	"testing"

	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/tests/contract"
)

var _ contract.ConfigStore = (*sqlitestore.Store)(nil)

func TestSqliteConfigStore(t *testing.T) {
	contract.TestConfigStore(t, func(t *testing.T) contract.ConfigStore { return newSqliteStore(t) })
}

func TestSqliteHealthStore(t *testing.T) {
	contract.TestHealthStore(t, func(t *testing.T) contract.HealthStore { return newSqliteStore(t) })
}
