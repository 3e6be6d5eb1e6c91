package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/datamodel/high/base"

	"github.com/heraldhq/herald/infra/httpapi"
	"github.com/heraldhq/herald/shared/delivery"
)

// operation is one documented call, read from openapi.json by an OpenAPI library, not by us.
type operation struct {
	id, method, path string
	body             map[string]any
	codes            []string
}

func documentedOperations(t *testing.T) []operation {
	t.Helper()
	doc, err := libopenapi.NewDocument(httpapi.OpenAPI())
	if err != nil {
		t.Fatalf("openapi.json does not parse as OpenAPI: %v", err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("openapi.json does not build as OpenAPI 3: %v", err)
	}
	var ops []operation
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			o := operation{id: op.OperationId, method: strings.ToUpper(method), path: path}
			for code := range op.Responses.Codes.KeysFromOldest() {
				o.codes = append(o.codes, code)
			}
			if op.RequestBody != nil {
				if mt, ok := op.RequestBody.Content.Get("application/json"); ok {
					o.body = example(mt.Schema.Schema(), o.id)
				}
			}
			ops = append(ops, o)
		}
	}
	// Deleting last leaves the webhook for every other call.
	slices.SortStableFunc(ops, func(a, b operation) int {
		return strings.Compare(fmt.Sprint(a.method == "DELETE"), fmt.Sprint(b.method == "DELETE"))
	})
	return ops
}

// example builds a valid object from a schema: every property (so minProperties holds), the
// schema's own examples where it gives them, otherwise enum values, URIs as public https URLs,
// times an hour ago, one item per array.
func example(s *base.Schema, seed string) map[string]any {
	out := map[string]any{}
	if s == nil || s.Properties == nil {
		return out
	}
	for name, proxy := range s.Properties.FromOldest() {
		out[name] = exampleValue(proxy.Schema(), seed)
	}
	return out
}

func exampleValue(p *base.Schema, seed string) any {
	if p == nil {
		return nil
	}
	if len(p.Examples) > 0 {
		var v any
		if err := p.Examples[0].Decode(&v); err == nil {
			return v
		}
	}
	switch {
	case len(p.Enum) > 0:
		return p.Enum[0].Value
	case slices.Contains(p.Type, "boolean"):
		return true
	case slices.Contains(p.Type, "integer"):
		return 1
	case slices.Contains(p.Type, "array"):
		if p.Items != nil && p.Items.IsA() {
			return []any{exampleValue(p.Items.A.Schema(), seed)}
		}
		return []any{}
	case slices.Contains(p.Type, "object"):
		return example(p, seed)
	case p.Format == "uri":
		return "https://8.8.8.8/generated/" + seed
	case p.Format == "date-time":
		return time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	case p.Format == "email":
		return seed + "@example.com"
	default:
		return "gen-" + seed
	}
}

// TestDrivenFromTheOpenAPIDocument calls every documented operation with a request built
// from the document alone and expects a documented success.
func TestDrivenFromTheOpenAPIDocument(t *testing.T) {
	ops := documentedOperations(t)
	if len(ops) < 8 {
		t.Fatalf("only %d operations documented", len(ops))
	}
	forEachBackend(t, func(t *testing.T, be backend) {
		id := create(t, be, "tenant-a", "stage-openapi", "https://8.8.8.8/openapi")["id"].(string)
		// A delivery of that webhook, recorded as the delivery path would, for the delivery
		// routes.
		deliveryID := sendTestEvent(t, be, "tenant-a", id)
		job := takeJobs(t, be, 1)[0]
		attempt := delivery.Attempt{
			TenantID: "tenant-a", WebhookID: id, DeliveryID: deliveryID, EventType: job.EventType, Number: 1,
			At: time.Now().Add(-time.Minute).UTC(), StatusCode: 200, Outcome: delivery.OutcomeSucceeded, Payload: job.Payload,
		}
		if err := be.attempts.RecordAttempts(context.Background(), []delivery.Attempt{attempt}); err != nil {
			t.Fatal(err)
		}
		notification := createNotification(t, be, "tenant-a", "user-1", `{"title":"OpenAPI","projects":["p1"],
			"channels":{"webhooks":[{"url":"https://8.8.8.8/openapi-notification"}]},"triggers":{"events":["task_completed"]}}`)
		ids := map[string]string{"/v1/webhooks/": id, "/v1/deliveries/": deliveryID, "/v1/notifications/": notification["id"].(string),
			"/v1/slack/channels/": connectChannel(t, be, "tenant-a", "user-1", "C0OPENAPI")}
		// The callback needs what only a run of the flow gives: Slack's code and a fresh state.
		queries := map[string]func() string{
			"previewDraftDigest": func() string { return "?project=p1&project=p2" },
			"showUnsubscribe": func() string {
				return "?token=" + unsubscribeToken("tenant-a", "nobody@example.com", notification["id"].(string))
			},
			"unsubscribe": func() string {
				return "?token=" + unsubscribeToken("tenant-a", "nobody@example.com", notification["id"].(string))
			},
			"finishSlackOAuth": func() string {
				be.slack.Choose(alertsGrant)
				return "?" + consent(t, slackStart(t, func(method, path string) response {
					return be.call(t, "tenant-a", "user-1", method, path, nil, nil)
				})).Encode()
			},
		}
		for _, op := range ops {
			var body []byte
			header := http.Header{}
			if op.body != nil {
				body, _ = json.Marshal(op.body)
				header.Set("Content-Type", "application/json")
			}
			path := op.path
			for prefix, id := range ids {
				if strings.HasPrefix(path, prefix) {
					path = strings.ReplaceAll(path, "{id}", id)
				}
			}
			if strings.Contains(path, "{webhook_id}") {
				// The notification's webhooks are whatever the calls before made them.
				got := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications/"+ids["/v1/notifications/"], nil, nil).json(t)
				hooks := got["channels"].(map[string]any)["webhooks"].([]any)
				path = strings.ReplaceAll(path, "{webhook_id}", hooks[0].(map[string]any)["id"].(string))
			}
			if query, ok := queries[op.id]; ok {
				path += query()
			}
			wantFailure := 0
			if op.id == "redeemSignInLink" {
				if be.signInCode == nil {
					wantFailure = http.StatusServiceUnavailable // on AWS the console signs in through OIDC
				} else {
					body, _ = json.Marshal(map[string]string{"code": be.signInCode(t, "tenant-a", "user-1")})
				}
			}
			res := be.call(t, "tenant-a", "user-1", op.method, path, body, header)
			code := fmt.Sprint(res.status)
			if wantFailure != 0 && res.status == wantFailure {
				continue
			}
			if !slices.Contains(op.codes, code) || res.status >= 300 {
				t.Errorf("%s (%s %s) with %s: %d %s; documented %v", op.id, op.method, op.path, body, res.status, res.body, op.codes)
			}
		}
	})
}
