package contract_test

import (
	"testing"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

var _ contract.SlackChannelStore = (*dynamo.SlackChannels)(nil)

func TestDynamoSlackChannelStore(t *testing.T) {
	contract.TestSlackChannelStore(t, func(t *testing.T) contract.SlackChannelStore {
		b := awsfixture.New(t, awsfixture.Options{})
		return dynamo.NewSlackChannels(b.Admin().DynamoDB, b.WebhooksTable)
	})
}
