package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/lambdafn/apifn"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/slack"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

// The records the samples in events/samples/api name, in the tenant of their JWT claims.
const (
	sampleTenant              = "acme"
	sampleUser                = "user-demo"
	sampleWebhook             = "wh_5a1e0c0ffee000000001"
	sampleDelivery            = "687457ce-6489-4891-b7c8-544477d99e41"
	sampleNotification        = "ntf_5a1e0c0ffee000000001"
	sampleNotificationWebhook = "wh_5a1e0c0ffee000000002"
)

// sampleStatus is what each API sample must answer, against the records seedSamples writes. A
// new sample must be added here, so that every sample `sam local invoke -e` replays is known
// to work.
var sampleStatus = map[string]int{
	"api/create-webhook.json":             201,
	"api/get-openapi.json":                200,
	"api/list-webhooks.json":              200,
	"api/list-webhook-attempts.json":      200,
	"api/get-delivery.json":               200,
	"api/redeliver.json":                  202,
	"api/recover-webhook-deliveries.json": 202,

	"api/create-notification.json":                201,
	"api/list-notifications.json":                 200,
	"api/get-notification.json":                   200,
	"api/update-notification.json":                200,
	"api/rotate-notification-webhook-secret.json": 200,
	"api/delete-notification.json":                204,
	"api/list-notification-events.json":           200,

	"api/start-slack-oauth.json": 200,
	// A callback's state is signed and lasts ten minutes, so no file can hold a valid one:
	// the sample shows the request, and is refused as a stale callback is.
	"api/finish-slack-oauth.json":   400,
	"api/list-slack-channels.json":  200,
	"api/delete-slack-channel.json": 204,
}

// seedSamples writes what the samples refer to: a stage webhook and one dead-lettered
// delivery of it, with the documented task_submitted_event payload.
func seedSamples(t *testing.T, b *awsfixture.Backend) {
	t.Helper()
	ctx := context.Background()
	hook := contract.NewWebhook(t, sampleTenant, sampleWebhook, "751a3a3e-46b6-4aad-b0b8-19b169f91266",
		"a1b2c3d4-0000-4000-8000-00000000a001", stagehooks.StageAnnotate, "https://8.8.8.8/hooks/sample-seed")
	if err := dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable).CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	payload, err := samples.Read("payloads/task_submitted_event.json")
	if err != nil {
		t.Fatal(err)
	}
	a := delivery.Attempt{
		TenantID: sampleTenant, WebhookID: sampleWebhook, DeliveryID: sampleDelivery, EventType: stagehooks.EventTaskSubmitted,
		Number: 8, At: time.Now().Add(-time.Hour).UTC(), StatusCode: 503, ErrorClass: delivery.ClassHTTP5xx,
		ResponseSnippet: "upstream unavailable", Outcome: delivery.OutcomeDeadLettered, Payload: payload,
	}
	if err := dynamo.NewAttemptLog(b.Admin().DynamoDB, b.AttemptsTable, 0).RecordAttempts(ctx, []delivery.Attempt{a}); err != nil {
		t.Fatal(err)
	}
	secret, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	n := notifications.Notification{
		ID: sampleNotification, TenantID: sampleTenant, OwnerID: sampleUser, Title: "QA rejections",
		Projects: []string{"751a3a3e-46b6-4aad-b0b8-19b169f91266"},
		Channels: notifications.Channels{Emails: []string{"qa-team@example.com"}, Webhooks: []notifications.Webhook{
			{ID: sampleNotificationWebhook, URL: "https://8.8.8.8/hooks/rejections", Secrets: []string{secret}, Enabled: true},
		}},
		Triggers:  notifications.Triggers{Events: []notifications.EventType{notifications.LabelRejected}},
		CreatedAt: now, UpdatedAt: now,
	}
	if err := dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable).CreateNotification(ctx, n); err != nil {
		t.Fatal(err)
	}
	ch := slack.Channel{
		ID: slack.NewChannelID(sampleTenant, sampleUser, "T0ACME", "C0ALERTS"), TenantID: sampleTenant, OwnerID: sampleUser,
		TeamID: "T0ACME", TeamName: "Acme", ChannelID: "C0ALERTS", ChannelName: "#alerts",
		WebhookURL: "https://hooks.slack.com/services/T0ACME/B0/secret", CreatedAt: now,
	}
	if err := dynamo.NewSlackChannels(b.Admin().DynamoDB, b.WebhooksTable).SaveChannel(ctx, ch); err != nil {
		t.Fatal(err)
	}
}

// TestEverySampleEventAnswersAsDocumented replays each API sample through the Lambda handler,
// as `sam local invoke ApiFunction -e events/samples/api/<file>` would.
func TestEverySampleEventAnswersAsDocumented(t *testing.T) {
	b := awsfixture.New(t, awsfixture.Options{})
	cfg := b.Config(t, "")
	cfg.JWTTenantClaim = "org_id"
	handler, err := apifn.New(cfg, b.Admin(), nil, apifn.WithSlack(slackConfig(newSlackStandin(t), backendOptions{})))
	if err != nil {
		t.Fatal(err)
	}
	seedSamples(t, b)
	names, err := samples.List("api")
	if err != nil {
		t.Fatal(err)
	}
	// Deletions last, so every other sample finds what it names.
	slices.SortStableFunc(names, func(a, b string) int {
		return strings.Compare(fmt.Sprint(strings.Contains(a, "/delete-")), fmt.Sprint(strings.Contains(b, "/delete-")))
	})
	for _, name := range names {
		want, known := sampleStatus[name]
		if !known {
			t.Errorf("%s: no expected status in sampleStatus; add it", name)
			continue
		}
		raw, err := samples.Read(name)
		if err != nil {
			t.Fatal(err)
		}
		var req events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res, err := handler(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.StatusCode != want {
			t.Errorf("%s: %d %s, want %d", name, res.StatusCode, res.Body, want)
		}
	}
	for name := range sampleStatus {
		if _, err := samples.Read(name); err != nil {
			t.Errorf("sampleStatus names %s, which does not exist", name)
		}
	}
}
