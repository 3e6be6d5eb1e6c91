package contract_test

import (
	"testing"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

var _ contract.AttemptQueryLog = (*dynamo.AttemptLog)(nil)

func TestDynamoAttemptQueries(t *testing.T) {
	contract.TestAttemptQueries(t, func(t *testing.T) contract.AttemptQueryLog {
		b := awsfixture.New(t, awsfixture.Options{})
		return dynamo.NewAttemptLog(b.Admin().DynamoDB, b.AttemptsTable, 0)
	})
}
