package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/inbound"
)

// TestInboundEvents: the events page's route lists the tenant's own records newest first,
// filters by outcome, pages with a cursor of its own list, and refuses a bad outcome.
func TestInboundEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		now := time.Now().UTC()
		for i, r := range []inbound.Record{
			{TenantID: "tenant-a", EventID: "e1", Router: inbound.RouterStageWebhooks, Outcome: inbound.Routed, Deliveries: 2},
			{TenantID: "tenant-a", EventID: "e2", Router: inbound.RouterStageWebhooks, Outcome: inbound.Rejected, Reason: "schema_violation", Detail: "at /to_stage/type: value must be one of ..."},
			{TenantID: "tenant-b", EventID: "e3", Router: inbound.RouterStageWebhooks, Outcome: inbound.Routed},
		} {
			r.DetailType, r.Source, r.At = "Task Stage Transition", "encord.workflow", now.Add(time.Duration(i)*time.Second)
			if err := be.inbound.RecordInbound(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
		list := func(query string) (int, map[string]any) {
			res := be.call(t, "tenant-a", "user-1", "GET", "/v1/events"+query, nil, nil)
			var out map[string]any
			_ = json.Unmarshal(res.body, &out)
			return res.status, out
		}
		status, page := list("?limit=1")
		items, _ := page["items"].([]any)
		if status != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["event_id"] != "e2" || page["next_cursor"] == nil {
			t.Fatalf("first page: %d %v", status, page)
		}
		if e := items[0].(map[string]any); e["outcome"] != "rejected" || !strings.Contains(e["detail"].(string), "/to_stage/type") {
			t.Fatalf("rejected event %v", e)
		}
		status, page = list("?limit=1&cursor=" + page["next_cursor"].(string))
		if items, _ := page["items"].([]any); status != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["event_id"] != "e1" {
			t.Fatalf("second page: %d %v", status, page)
		}
		if _, page = list("?outcome=routed"); len(page["items"].([]any)) != 1 {
			t.Fatalf("routed only: %v", page)
		}
		if status, page = list("?outcome=lost"); status != http.StatusUnprocessableEntity || !strings.Contains(page["errors"].([]any)[0].(map[string]any)["field"].(string), "outcome") {
			t.Fatalf("a bad outcome: %d %v", status, page)
		}
		other := be.call(t, "tenant-b", "user-9", "GET", "/v1/events", nil, nil)
		if !strings.Contains(string(other.body), `"e3"`) || strings.Contains(string(other.body), `"e1"`) {
			t.Fatalf("tenant-b sees %s", other.body)
		}
	})
}
