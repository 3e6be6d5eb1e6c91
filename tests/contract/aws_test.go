package contract_test

import (
	"testing"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

func TestDynamoWebhookStore(t *testing.T) {
	contract.TestWebhookStore(t, func(t *testing.T) contract.WebhookStore {
		b := awsfixture.New(t, awsfixture.Options{})
		return dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable)
	})
}

func TestDynamoAttemptLog(t *testing.T) {
	contract.TestAttemptLog(t, func(t *testing.T) contract.AttemptLog {
		b := awsfixture.New(t, awsfixture.Options{})
		return dynamo.NewAttemptLog(b.Admin().DynamoDB, b.AttemptsTable, 0)
	})
}
