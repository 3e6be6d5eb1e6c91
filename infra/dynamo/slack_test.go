package dynamo_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

// The contract suite (tests/contract) covers the behaviour shared with SQLite; these tests
// cover the DynamoDB layout: Slack channels share the webhooks table without reaching the
// router's index, and a user's channels are read by key, never by Scan.

func TestSlackChannelsShareTheWebhooksTableUnseenByTheRouter(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	db := b.Admin().DynamoDB
	webhooks := dynamo.NewWebhookStore(db, b.WebhooksTable)
	channels := dynamo.NewSlackChannels(db, b.WebhooksTable)

	if err := webhooks.CreateWebhook(ctx, contract.NewWebhook(t, "tenant-a", "wh_1", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://example.com/hook")); err != nil {
		t.Fatal(err)
	}
	ch := contract.NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0ALERTS", 0)
	if err := channels.SaveChannel(ctx, ch); err != nil {
		t.Fatal(err)
	}

	targets, err := webhooks.TargetsForStage(ctx, "tenant-a", "proj-1", "stage-1")
	if err != nil || len(targets) != 1 || targets[0].WebhookID != "wh_1" {
		t.Fatalf("targets %+v, %v, want only wh_1", targets, err)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(b.WebhooksTable),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "T#tenant-a"},
			"sk": &types.AttributeValueMemberS{Value: "SLACK#user-1#" + ch.ID},
		},
	})
	if err != nil || out.Item == nil {
		t.Fatalf("item at T#tenant-a / SLACK#user-1#%s: %v, %v", ch.ID, out, err)
	}
	if _, ok := out.Item["stage_key"]; ok {
		t.Fatal("a Slack channel item carries stage_key: it would enter the router's index")
	}
	if url, ok := out.Item["webhook_url"].(*types.AttributeValueMemberS); !ok || url.Value != ch.WebhookURL {
		t.Fatal("the item does not hold the webhook URL")
	}
}

func TestSlackChannelReadsAreKeyed(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	admin := dynamo.NewSlackChannels(b.Admin().DynamoDB, b.WebhooksTable)
	var ids []string
	for i := range 3 {
		ch := contract.NewSlackChannel("tenant-a", "user-1", "T0ACME", fmt.Sprintf("C0%d", i), i)
		if err := admin.SaveChannel(ctx, ch); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ch.ID)
	}
	for i := range 147 {
		ids = append(ids, fmt.Sprintf("slk_missing_%d", i))
	}

	counter := awsfixture.NewRequestCounter()
	counted := dynamo.NewSlackChannels(b.Clients(counter).DynamoDB, b.WebhooksTable)
	list, err := counted.ListChannels(ctx, "tenant-a", "user-1")
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %d channels, %v", len(list), err)
	}
	if got := counter.String(); got != "DynamoDB.Query=1" {
		t.Fatalf("listing a user's channels sent %s, want one Query", got)
	}
	got, err := counted.GetChannels(ctx, "tenant-a", "user-1", ids)
	if err != nil || len(got) != 3 {
		t.Fatalf("get: %d channels, %v", len(got), err)
	}
	if s := counter.String(); s != "DynamoDB.BatchGetItem=2 DynamoDB.Query=1" || strings.Contains(s, "Scan") {
		t.Fatalf("getting 150 ids sent %s, want two BatchGetItem", s)
	}
}
