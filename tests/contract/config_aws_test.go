package contract_test

import (
	"testing"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

var _ contract.ConfigStore = (*dynamo.WebhookStore)(nil)

func TestDynamoConfigStore(t *testing.T) {
	contract.TestConfigStore(t, func(t *testing.T) contract.ConfigStore {
		b := awsfixture.New(t, awsfixture.Options{})
		return dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable)
	})
}

func TestDynamoHealthStore(t *testing.T) {
	contract.TestHealthStore(t, func(t *testing.T) contract.HealthStore {
		b := awsfixture.New(t, awsfixture.Options{})
		return dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable)
	})
}
