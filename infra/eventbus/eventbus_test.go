package eventbus_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/heraldhq/herald/events/operational"
	"github.com/heraldhq/herald/infra/eventbus"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/standin"
)

// The publisher speaks PutEvents through the AWS SDK to an EventBridge stand-in (the
// embedded bus, which answers as EventBridge does) and its rule routes the event.
func TestPublisherPutsTheEventOnItsBus(t *testing.T) {
	endpoint, published := awsfixture.BusStandIn(t)
	client := eventbridge.NewFromConfig(standin.AWSConfig(t), func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(endpoint) })
	ctx := context.Background()
	detail := []byte(`{"tenant_id":"acme","webhook_id":"wh_1"}`)

	if err := eventbus.New(client, awsfixture.EventBusName).Publish(ctx, operational.DetailTypeEndpointDisabled, detail); err != nil {
		t.Fatal(err)
	}
	got := published()
	if len(got) != 1 {
		t.Fatalf("the rule got %d events, want 1", len(got))
	}
	var env map[string]any
	if err := json.Unmarshal(got[0], &env); err != nil {
		t.Fatal(err)
	}
	if env["source"] != "herald" || env["detail-type"] != "Herald Endpoint Disabled" || env["detail"].(map[string]any)["webhook_id"] != "wh_1" {
		t.Fatalf("event %s", got[0])
	}
	// Another bus: accepted, routed nowhere. A refused entry is an error.
	if err := eventbus.New(client, "elsewhere").Publish(ctx, operational.DetailTypeEndpointDisabled, detail); err != nil || len(published()) != 1 {
		t.Fatalf("another bus: %v, %d events", err, len(published()))
	}
	err := eventbus.New(client, awsfixture.EventBusName).Publish(ctx, strings.Repeat("x", 200), detail)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("an over-long detail-type: %v", err)
	}
}
