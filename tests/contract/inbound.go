package contract

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/inbound"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// TestInboundStore runs the contract of the record of inbound events.
func TestInboundStore(t *testing.T, newStore func(t *testing.T) interface {
	inbound.Recorder
	inbound.Reader
}) {
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	rec := func(tenant, id, router string, at time.Duration, outcome inbound.Outcome) inbound.Record {
		return inbound.Record{TenantID: tenant, EventID: id, Router: router, DetailType: "Task Stage Transition", Source: "encord.workflow",
			At: base.Add(at), Outcome: outcome, Reason: "r-" + id, Detail: "detail of " + id, ProjectHash: "p1", TaskID: "t-" + id, Deliveries: 2}
	}
	list := func(t *testing.T, s inbound.Reader, tenant string, q inbound.Query) inbound.Page {
		t.Helper()
		p, err := s.ListInbound(ctx, tenant, q)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ids := func(p inbound.Page) string {
		var out []string
		for _, r := range p.Items {
			out = append(out, r.EventID+"/"+r.Router)
		}
		return fmt.Sprint(out)
	}

	t.Run("newest first, a page at a time, each tenant its own", func(t *testing.T) {
		s := newStore(t)
		for _, r := range []inbound.Record{
			rec("acme", "e1", inbound.RouterStageWebhooks, 0, inbound.Routed),
			rec("acme", "e1", inbound.RouterNotifications, 0, inbound.NoMatch),
			rec("acme", "e2", inbound.RouterStageWebhooks, time.Minute, inbound.Rejected),
			rec("rival", "e9", inbound.RouterStageWebhooks, 2*time.Minute, inbound.Routed),
			rec("acme", "e3", inbound.RouterStageWebhooks, 3*time.Minute, inbound.Routed),
		} {
			if err := s.RecordInbound(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		first := list(t, s, "acme", inbound.Query{Page: stagehooks.PageRequest{Limit: 2}})
		if ids(first) != "[e3/stage_webhooks e2/stage_webhooks]" || first.NextCursor == "" {
			t.Fatalf("first page %s, cursor %q", ids(first), first.NextCursor)
		}
		got := first.Items[0]
		if want := rec("acme", "e3", inbound.RouterStageWebhooks, 3*time.Minute, inbound.Routed); got != want {
			t.Fatalf("read back %+v, want %+v", got, want)
		}
		second := list(t, s, "acme", inbound.Query{Page: stagehooks.PageRequest{Limit: 2, Cursor: first.NextCursor}})
		if ids(second) != "[e1/stage_webhooks e1/notifications]" || second.NextCursor != "" {
			t.Fatalf("second page %s, cursor %q", ids(second), second.NextCursor)
		}
		if _, err := s.ListInbound(ctx, "rival", inbound.Query{Page: stagehooks.PageRequest{Limit: 2, Cursor: first.NextCursor}}); err == nil {
			t.Fatal("another tenant's cursor was accepted")
		}
		if got := list(t, s, "rival", inbound.Query{}); ids(got) != "[e9/stage_webhooks]" {
			t.Fatalf("rival sees %s", ids(got))
		}
		if got := list(t, s, "acme", inbound.Query{Outcome: inbound.Rejected}); ids(got) != "[e2/stage_webhooks]" {
			t.Fatalf("rejected only: %s", ids(got))
		}
	})

	t.Run("records past their retention are not listed; long details are cut", func(t *testing.T) {
		s := newStore(t)
		old := rec("acme", "old", inbound.RouterStageWebhooks, -inbound.Retention-time.Hour, inbound.Routed)
		long := rec("acme", "long", inbound.RouterStageWebhooks, 0, inbound.Rejected)
		for range 200 {
			long.Detail += "é…"
		}
		for _, r := range []inbound.Record{old, long} {
			if err := s.RecordInbound(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		got := list(t, s, "acme", inbound.Query{})
		if ids(got) != "[long/stage_webhooks]" || len(got.Items[0].Detail) > inbound.MaxDetail+len("…") {
			t.Fatalf("listed %s, detail %d bytes", ids(got), len(got.Items[0].Detail))
		}
	})
}
