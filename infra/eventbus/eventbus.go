// Package eventbus publishes Herald's own operational events (events/operational) to an
// EventBridge bus: Amazon EventBridge on AWS; the embedded bus publishes in process
// (localbus.Bus.Publish).
package eventbus

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/heraldhq/herald/events/operational"
)

// Publisher puts events of source operational.Source on one bus.
type Publisher struct {
	client *eventbridge.Client
	bus    string
}

// New returns a Publisher to bus (the default bus when empty).
func New(client *eventbridge.Client, bus string) *Publisher {
	return &Publisher{client: client, bus: bus}
}

// Publish puts one event. PutEvents answers 200 for an entry it refused, with the reason in
// the entry; that is an error here too.
func (p *Publisher) Publish(ctx context.Context, detailType string, detail []byte) error {
	d, source := string(detail), operational.Source
	entry := types.PutEventsRequestEntry{Source: &source, DetailType: &detailType, Detail: &d}
	if p.bus != "" {
		entry.EventBusName = &p.bus
	}
	out, err := p.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry}})
	if err != nil {
		return fmt.Errorf("put %q event: %w", detailType, err)
	}
	if out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		e := out.Entries[0]
		return fmt.Errorf("put %q event: refused: %s: %s", detailType, deref(e.ErrorCode), deref(e.ErrorMessage))
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
