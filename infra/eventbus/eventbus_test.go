package eventbus_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/heraldhq/herald/events/operational"
	"github.com/heraldhq/herald/infra/eventbus"
	"github.com/heraldhq/herald/infra/eventpattern"
	"github.com/heraldhq/herald/infra/localbus"
	"github.com/heraldhq/herald/tests/standin"
)

type sink struct {
	mu     sync.Mutex
	events [][]byte
}

func (s *sink) Accept(_ context.Context, invs []localbus.Invocation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, i := range invs {
		s.events = append(s.events, i.Event)
	}
	return nil
}

// The publisher speaks PutEvents through the AWS SDK; the embedded bus answers it as
// EventBridge does, and its in-process Publish routes the same event the same way.
func TestPublisherAndEmbeddedBusPutTheSameEvent(t *testing.T) {
	pattern, err := eventpattern.Compile([]byte(`{"source":["herald"],"detail-type":["Herald Endpoint Disabled"]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := &sink{}
	bus := localbus.New([]localbus.Rule{{Name: "ops", Function: "ops", Bus: "herald", Pattern: pattern}}, got, localbus.Options{})
	srv := httptest.NewServer(bus)
	defer srv.Close()
	client := eventbridge.NewFromConfig(standin.AWSConfig(t), func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	ctx := context.Background()
	detail := []byte(`{"tenant_id":"acme","webhook_id":"wh_1"}`)

	if err := eventbus.New(client, "herald").Publish(ctx, operational.DetailTypeEndpointDisabled, detail); err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(ctx, "herald", operational.Source, operational.DetailTypeEndpointDisabled, detail); err != nil {
		t.Fatal(err)
	}
	if len(got.events) != 2 {
		t.Fatalf("the rule got %d events, want 2", len(got.events))
	}
	for _, raw := range got.events {
		var env map[string]any
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatal(err)
		}
		if env["source"] != "herald" || env["detail-type"] != "Herald Endpoint Disabled" || env["detail"].(map[string]any)["webhook_id"] != "wh_1" {
			t.Fatalf("event %s", raw)
		}
	}
	// Another bus: accepted, routed nowhere. A refused entry is an error.
	if err := eventbus.New(client, "elsewhere").Publish(ctx, operational.DetailTypeEndpointDisabled, detail); err != nil || len(got.events) != 2 {
		t.Fatalf("another bus: %v, %d events", err, len(got.events))
	}
	err = eventbus.New(client, "herald").Publish(ctx, strings.Repeat("x", 200), detail)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("an over-long detail-type: %v", err)
	}
}
