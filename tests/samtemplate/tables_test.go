package samtemplate_test

import (
	"context"
	"github.com/heraldhq/herald/infra/samtemplate"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/standin"
)

// TestCreateTablesInDynamoDBLocal creates the template's tables in the DynamoDB stand-in, checks
// they are what the template says, and runs the adapters' key paths against them: the proof
// that the key design in template.yaml and in infra/dynamo agree.
func TestCreateTablesInDynamoDBLocal(t *testing.T) {
	t.Parallel()
	client := standin.DynamoDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	prefix := standin.UniqueName("samtemplate")
	names, err := samtemplate.CreateTables(ctx, client, tpl(t), func(id string) string { return prefix + "-" + id })
	t.Cleanup(func() {
		for _, name := range names {
			_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		}
	})
	if err != nil {
		t.Fatalf("CreateTables: %v", err)
	}
	for id := range tpl(t).ResourcesOfType(samtemplate.TableType) {
		if names[id] != prefix+"-"+id {
			t.Errorf("CreateTables returned %q for %s, want %q", names[id], id, prefix+"-"+id)
		}
	}

	for id, name := range names {
		want, wantTTL, err := samtemplate.TableInput(tpl(t).Resources()[id], name)
		if err != nil {
			t.Fatal(err)
		}
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatalf("describe %s: %v", name, err)
		}
		got := out.Table
		if got.TableStatus != types.TableStatusActive {
			t.Errorf("%s: status %s, want ACTIVE", id, got.TableStatus)
		}
		if !slices.EqualFunc(got.KeySchema, want.KeySchema, keyEqual) {
			t.Errorf("%s: key schema %v, want %v", id, got.KeySchema, want.KeySchema)
		}
		if got.BillingModeSummary == nil || got.BillingModeSummary.BillingMode != want.BillingMode {
			t.Errorf("%s: billing mode %+v, want %s", id, got.BillingModeSummary, want.BillingMode)
		}
		if len(got.GlobalSecondaryIndexes) != len(want.GlobalSecondaryIndexes) {
			t.Errorf("%s: %d GSIs, want %d", id, len(got.GlobalSecondaryIndexes), len(want.GlobalSecondaryIndexes))
		}
		for _, w := range want.GlobalSecondaryIndexes {
			i := slices.IndexFunc(got.GlobalSecondaryIndexes, func(g types.GlobalSecondaryIndexDescription) bool {
				return aws.ToString(g.IndexName) == aws.ToString(w.IndexName)
			})
			if i < 0 {
				t.Errorf("%s: index %s missing", id, aws.ToString(w.IndexName))
				continue
			}
			g := got.GlobalSecondaryIndexes[i]
			if !slices.EqualFunc(g.KeySchema, w.KeySchema, keyEqual) || g.Projection.ProjectionType != w.Projection.ProjectionType ||
				!sameSet(g.Projection.NonKeyAttributes, w.Projection.NonKeyAttributes) {
				t.Errorf("%s: index %s is %v %+v, want %v %+v", id, aws.ToString(w.IndexName), g.KeySchema, g.Projection, w.KeySchema, w.Projection)
			}
		}
		ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatalf("describe TTL of %s: %v", name, err)
		}
		if wantTTL != nil {
			d := ttl.TimeToLiveDescription
			if d == nil || aws.ToString(d.AttributeName) != aws.ToString(wantTTL.AttributeName) ||
				(d.TimeToLiveStatus != types.TimeToLiveStatusEnabled && d.TimeToLiveStatus != types.TimeToLiveStatusEnabling) {
				t.Errorf("%s: TTL %+v, want %s enabled", id, d, aws.ToString(wantTTL.AttributeName))
			}
		}
	}

	// The adapters against the template's tables.
	now := time.Now().UTC().Truncate(time.Millisecond)
	store := dynamo.NewWebhookStore(client, names["WebhooksTable"])
	w := stagehooks.Webhook{
		ID: "wh-1", TenantID: "tenant-1", OwnerID: "owner-1", ProjectHash: "project-1", StageUUID: "stage-1",
		StageType: stagehooks.StageAnnotate, URL: "https://receiver.example/hook", Secrets: []string{"whsec_c2VjcmV0"},
		Enabled: true, CreatedAt: now, UpdatedAt: now,
	}
	if err := store.CreateWebhook(ctx, w); err != nil {
		t.Fatalf("CreateWebhook on the template's WebhooksTable: %v", err)
	}
	targets, err := store.TargetsForStage(ctx, w.TenantID, w.ProjectHash, w.StageUUID)
	if err != nil {
		t.Fatalf("TargetsForStage on the template's %s index: %v", dynamo.StageIndex, err)
	}
	if want := []stagehooks.Target{{TenantID: w.TenantID, WebhookID: w.ID, Enabled: true}}; !slices.Equal(targets, want) {
		t.Errorf("TargetsForStage = %+v, want %+v", targets, want)
	}
	stageItems, err := client.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(names["WebhooksTable"]), IndexName: aws.String(dynamo.StageIndex),
		KeyConditionExpression:    aws.String("stage_key = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberS{Value: "P#project-1#S#stage-1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range stageItems.Items {
		for _, secret := range []string{"secrets", "url"} {
			if _, leaked := it[secret]; leaked {
				t.Errorf("the %s index returns %q: the projection leaks it", dynamo.StageIndex, secret)
			}
		}
	}
	ref := delivery.EndpointRef{TenantID: w.TenantID, WebhookID: w.ID}
	eps, err := store.Endpoints(ctx, []delivery.EndpointRef{ref})
	if err != nil {
		t.Fatalf("Endpoints on the template's WebhooksTable: %v", err)
	}
	if ep := eps[ref]; ep.URL != w.URL || !slices.Equal(ep.Secrets, w.Secrets) || !ep.Enabled {
		t.Errorf("Endpoints = %+v", eps)
	}

	log := dynamo.NewAttemptLog(client, names["AttemptsTable"], time.Hour)
	attempts := []delivery.Attempt{
		{TenantID: w.TenantID, WebhookID: w.ID, DeliveryID: "d-1", EventType: "task.stage_transition", Number: 1, At: now,
			StatusCode: 503, Latency: 40 * time.Millisecond, ErrorClass: delivery.Class("http_5xx"), Outcome: delivery.OutcomeRetrying, NextAttemptAt: now.Add(5 * time.Second)},
		{TenantID: w.TenantID, WebhookID: w.ID, DeliveryID: "d-1", EventType: "task.stage_transition", Number: 2, At: now.Add(5 * time.Second),
			StatusCode: 200, Latency: 30 * time.Millisecond, Outcome: delivery.OutcomeSucceeded},
	}
	if err := log.RecordAttempts(ctx, attempts); err != nil {
		t.Fatalf("RecordAttempts on the template's AttemptsTable: %v", err)
	}
	got, err := log.AttemptsOfDelivery(ctx, w.TenantID, "d-1")
	if err != nil {
		t.Fatalf("AttemptsOfDelivery on the template's %s index: %v", dynamo.DeliveryIndex, err)
	}
	if len(got) != 2 || got[0].Number != 1 || got[1].Number != 2 || got[1].Outcome != delivery.OutcomeSucceeded {
		t.Errorf("AttemptsOfDelivery = %+v, want attempts 1 and 2", got)
	}
}

func keyEqual(a, b types.KeySchemaElement) bool {
	return aws.ToString(a.AttributeName) == aws.ToString(b.AttributeName) && a.KeyType == b.KeyType
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
