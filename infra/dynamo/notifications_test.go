package dynamo_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

// The contract suite (tests/contract) covers the behaviour shared with SQLite; these tests
// cover the DynamoDB layout of the configuration: which items a webhook and a notification
// make, that only stage webhooks reach the router's index, that lists are Queries, and that
// webhooks written before versions and URL claims existed still update and delete.

func scanKeys(t *testing.T, db *dynamodb.Client, table string, index *string) map[string]map[string]types.AttributeValue {
	t.Helper()
	out, err := db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), IndexName: index, ConsistentRead: aws.Bool(index == nil)})
	if err != nil {
		t.Fatal(err)
	}
	items := map[string]map[string]types.AttributeValue{}
	for _, it := range out.Items {
		pk, sk := it["pk"].(*types.AttributeValueMemberS), it["sk"].(*types.AttributeValueMemberS)
		items[pk.Value+" "+sk.Value] = it
	}
	return items
}

func TestConfigurationItemLayout(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	db := b.Admin().DynamoDB
	s := dynamo.NewWebhookStore(db, b.WebhooksTable)

	if err := s.CreateWebhook(ctx, contract.NewWebhook(t, "tenant-a", "wh_1", "proj-1", "stage-1", stagehooks.StageAnnotate, "https://example.com/hook")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNotification(ctx, contract.NewNotification(t, "tenant-a", "notif_1", "user-1", "Nightly QA",
		contract.NewNotificationWebhook(t, "nwh_1", "https://n.example/1"))); err != nil {
		t.Fatal(err)
	}

	items := scanKeys(t, db, b.WebhooksTable, nil)
	var keys []string
	for k := range items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{
		"T#tenant-a NOTIF#notif_1",
		"T#tenant-a WH#nwh_1",
		"T#tenant-a WH#wh_1",
		// sha256 of "https://example.com/hook", in hex
		"T#tenant-a WHURL#proj-1#stage-1#19f1352238b915338c91b6a9fdd2dd4be99a13c18e95bbfbf1443ee01fb616b6",
		"T#tenant-a#P#proj-1 NOTIF#notif_1", // the notification's project membership
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("items %q\nwant  %q", keys, want)
	}
	if _, ok := items["T#tenant-a WH#nwh_1"]["stage_key"]; ok {
		t.Fatal("a notification's webhook carries stage_key: it would enter the router's index")
	}
	if nid, ok := items["T#tenant-a WH#nwh_1"]["notification_id"].(*types.AttributeValueMemberS); !ok || nid.Value != "notif_1" {
		t.Fatal("a notification's webhook does not name its notification")
	}
	if folded, ok := items["T#tenant-a NOTIF#notif_1"]["title_folded"].(*types.AttributeValueMemberS); !ok || folded.Value != "nightly qa" {
		t.Fatalf("title_folded %v", items["T#tenant-a NOTIF#notif_1"]["title_folded"])
	}
	index := scanKeys(t, db, b.WebhooksTable, aws.String(dynamo.StageIndex))
	if _, ok := index["T#tenant-a WH#wh_1"]; !ok || len(index) != 1 {
		t.Fatalf("by_stage holds %d items, want only the stage webhook", len(index))
	}
	if sk, ok := items["T#tenant-a WH#wh_1"]["stage_key"].(*types.AttributeValueMemberS); !ok || sk.Value != "T#tenant-a#P#proj-1#S#stage-1" {
		t.Fatalf("stage_key %v: want the tenant leading the router's key", items["T#tenant-a WH#wh_1"]["stage_key"])
	}
}

// A membership that its notification does not confirm (left by an update or delete that
// stopped between its transaction and its batch write, or never followed by its transaction)
// is ignored, and finding a project's notifications is one Query and one BatchGetItem.
func TestUnconfirmedMembershipsAreIgnored(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	db := b.Admin().DynamoDB
	counter := awsfixture.NewRequestCounter()
	s := dynamo.NewWebhookStore(b.Clients(counter).DynamoDB, b.WebhooksTable)
	n := contract.NewNotification(t, "tenant-a", "notif_1", "user-1", "Nightly QA")
	n.Projects = []string{"proj-1"}
	if err := s.CreateNotification(ctx, n); err != nil {
		t.Fatal(err)
	}
	for _, m := range [][2]string{{"proj-2", "notif_1"}, {"proj-1", "notif_gone"}} {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(b.WebhooksTable), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "T#tenant-a#P#" + m[0]}, "sk": &types.AttributeValueMemberS{Value: "NOTIF#" + m[1]},
			"tenant_id": &types.AttributeValueMemberS{Value: "tenant-a"}, "notification_id": &types.AttributeValueMemberS{Value: m[1]},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if subs, err := s.SubscriptionsForProject(ctx, "tenant-a", "proj-2"); err != nil || len(subs) != 0 {
		t.Fatalf("proj-2, which notif_1 does not list: %+v, %v", subs, err)
	}
	before := counter.Total()
	subs, err := s.SubscriptionsForProject(ctx, "tenant-a", "proj-1")
	if err != nil || len(subs) != 1 || subs[0].NotificationID != "notif_1" {
		t.Fatalf("proj-1: %+v, %v; want notif_1 alone", subs, err)
	}
	if n := counter.Total() - before; n != 2 {
		t.Fatalf("finding a project's notifications took %d requests (%s), want a Query and a BatchGetItem", n, counter)
	}
}

func TestConfigurationReadsAreQueriesNeverScans(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	counter := awsfixture.NewRequestCounter()
	s := dynamo.NewWebhookStore(b.Clients(counter).DynamoDB, b.WebhooksTable)
	if err := s.CreateWebhook(ctx, contract.NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageAnnotate, "https://a.example/")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNotification(ctx, contract.NewNotification(t, "tenant-a", "notif_1", "user-1", "Nightly QA",
		contract.NewNotificationWebhook(t, "nwh_1", "https://n.example/1"))); err != nil {
		t.Fatal(err)
	}
	before := counter.String()
	if _, err := s.ListWebhooks(ctx, "tenant-a", stagehooks.PageRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListNotifications(ctx, "tenant-a", notifications.Query{TitleContains: "qa", OwnerID: "user-1"}); err != nil {
		t.Fatal(err)
	}
	after := counter.String()
	if strings.Contains(after, "Scan") {
		t.Fatalf("requests %s (before the lists: %s) include a Scan", after, before)
	}
	t.Logf("requests: %s", after)
}

// Items written before versions and URL claims existed have neither: they read as version 1,
// and an update or delete that finds another webhook's claim on their old URL (one created
// since, with the same URL) leaves that claim alone.
func TestWebhooksFromBeforeVersionsAndClaims(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	db := b.Admin().DynamoDB
	s := dynamo.NewWebhookStore(db, b.WebhooksTable)
	legacy := func(id string) {
		t.Helper()
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(b.WebhooksTable), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "T#tenant-a"}, "sk": &types.AttributeValueMemberS{Value: "WH#" + id},
			"stage_key": &types.AttributeValueMemberS{Value: "P#p#S#s"}, "webhook_id": &types.AttributeValueMemberS{Value: id},
			"tenant_id": &types.AttributeValueMemberS{Value: "tenant-a"}, "owner_id": &types.AttributeValueMemberS{Value: "o"},
			"project_hash": &types.AttributeValueMemberS{Value: "p"}, "stage_uuid": &types.AttributeValueMemberS{Value: "s"},
			"stage_type": &types.AttributeValueMemberS{Value: "annotate"}, "url": &types.AttributeValueMemberS{Value: "https://a.example/same"},
			"secrets":    &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "whsec_x"}}},
			"enabled":    &types.AttributeValueMemberBOOL{Value: true},
			"created_at": &types.AttributeValueMemberS{Value: "2026-11-28T12:00:00Z"}, "updated_at": &types.AttributeValueMemberS{Value: "2026-11-28T12:00:00Z"},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	legacy("wh_old1")
	legacy("wh_old2")
	got, err := s.GetWebhook(ctx, "tenant-a", "wh_old1")
	if err != nil || got.Version != 1 {
		t.Fatalf("legacy webhook: %+v, %v; want version 1", got, err)
	}
	// No claim exists for the legacy URL, so a new webhook takes it.
	newer := contract.NewWebhook(t, "tenant-a", "wh_new", "p", "s", stagehooks.StageAnnotate, "https://a.example/same")
	if err := s.CreateWebhook(ctx, newer); err != nil {
		t.Fatal(err)
	}
	moved := got
	moved.URL = "https://a.example/moved"
	if got, err = s.UpdateWebhook(ctx, moved, 1); err != nil || got.Version != 2 {
		t.Fatalf("update of a legacy webhook whose old URL another claims: %+v, %v", got, err)
	}
	if err := s.DeleteWebhook(ctx, "tenant-a", "wh_old2"); err != nil {
		t.Fatalf("delete of a legacy webhook whose URL another claims: %v", err)
	}
	// wh_new's claim survived both.
	dup := contract.NewWebhook(t, "tenant-a", "wh_dup", "p", "s", stagehooks.StageAnnotate, "https://a.example/same")
	if err := s.CreateWebhook(ctx, dup); !errors.Is(err, stagehooks.ErrDuplicateURL) {
		t.Fatalf("create over wh_new's URL: %v, want ErrDuplicateURL", err)
	}
	// A legacy webhook disabled by the delivery path gets a version too.
	legacy("wh_old3")
	if err := s.DisableWebhook(ctx, delivery.EndpointRef{TenantID: "tenant-a", WebhookID: "wh_old3"}, "gone"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetWebhook(ctx, "tenant-a", "wh_old3"); err != nil || got.Version != 2 || got.Enabled {
		t.Fatalf("legacy webhook after disable: %+v, %v; want version 2, disabled", got, err)
	}
}

// A webhook an eventually consistent read misses is read again strongly consistent before it
// is reported missing; a batch whose webhooks are all found costs one read.
func TestEndpointsConfirmAMissBeforeReportingIt(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	counter := awsfixture.NewRequestCounter()
	s := dynamo.NewWebhookStore(b.Clients(counter).DynamoDB, b.WebhooksTable)
	if err := s.CreateWebhook(ctx, contract.NewWebhook(t, "tenant-a", "wh_1", "p", "s", stagehooks.StageAnnotate, "https://a.example/")); err != nil {
		t.Fatal(err)
	}
	found := delivery.EndpointRef{TenantID: "tenant-a", WebhookID: "wh_1"}
	before := counter.Total()
	if eps, err := s.Endpoints(ctx, []delivery.EndpointRef{found}); err != nil || len(eps) != 1 || counter.Total()-before != 1 {
		t.Fatalf("all found: %v, %v after %d requests; want one read", eps, err, counter.Total()-before)
	}
	before = counter.Total()
	eps, err := s.Endpoints(ctx, []delivery.EndpointRef{found, {TenantID: "tenant-a", WebhookID: "wh_missing"}})
	if err != nil || len(eps) != 1 || counter.Total()-before != 2 {
		t.Fatalf("one missing: %v, %v after %d requests; want a second, consistent read of the miss", eps, err, counter.Total()-before)
	}
}
