package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events/payloads"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/notify"
	"github.com/heraldhq/herald/shared/slack"
	"github.com/heraldhq/herald/tests/contract"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func createNotification(t *testing.T, be backend, tenant, user, body string) map[string]any {
	t.Helper()
	res := be.call(t, tenant, user, "POST", "/v1/notifications", []byte(body), jsonHeader)
	if res.status != http.StatusCreated {
		t.Fatalf("create notification: %d %s", res.status, res.body)
	}
	return res.json(t)
}

// connectChannel stores a Slack channel for user as the OAuth callback would.
func connectChannel(t *testing.T, be backend, tenant, user, channelID string) string {
	t.Helper()
	ch := slack.Channel{
		ID: slack.NewChannelID(tenant, user, "T0ACME", channelID), TenantID: tenant, OwnerID: user,
		TeamID: "T0ACME", TeamName: "Acme", ChannelID: channelID, ChannelName: "#" + strings.ToLower(channelID),
		WebhookURL: "https://hooks.slack.com/services/T0ACME/B0/" + channelID, CreatedAt: time.Now().UTC(),
	}
	if err := be.channels.SaveChannel(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	return ch.ID
}

// hooksOf returns a notification's webhooks from a response, in order.
func hooksOf(n map[string]any) []map[string]any {
	var out []map[string]any
	for _, h := range n["channels"].(map[string]any)["webhooks"].([]any) {
		out = append(out, h.(map[string]any))
	}
	return out
}

func endpoint(t *testing.T, be backend, tenant, webhookID string) (delivery.Endpoint, bool) {
	t.Helper()
	ref := delivery.EndpointRef{TenantID: tenant, WebhookID: webhookID}
	eps, err := be.endpoints.Endpoints(context.Background(), []delivery.EndpointRef{ref})
	if err != nil {
		t.Fatal(err)
	}
	ep, ok := eps[ref]
	return ep, ok
}

// TestNotificationLifecycle follows the creation flow (details, projects, channels,
// triggers) and then edits the notification: its webhooks are created, changed and deleted
// with it, reach the delivery path, and show their secrets only when created or rotated.
func TestNotificationLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		alerts := connectChannel(t, be, "tenant-a", "user-1", "C0ALERTS")
		body := fmt.Sprintf(`{
			"title": "Nightly QA digest", "description": "What QA reviews each morning.",
			"projects": ["proj-1", "proj-2"],
			"channels": {"slack_channels": [%q], "emails": ["qa@example.com", "lead@example.com"],
				"webhooks": [{"url": "https://8.8.8.8/n/one"}, {"url": "https://8.8.4.4/n/two", "enabled": false}]},
			"triggers": {"events": ["task_submitted", "label_rejected"],
				"digests": [{"times_of_day": ["09:00", "17:30"], "time_zone": "Europe/London"}]}
		}`, alerts)
		res := be.call(t, "tenant-a", "user-1", "POST", "/v1/notifications", []byte(body), jsonHeader)
		if res.status != http.StatusCreated || res.header.Get("ETag") != `"1"` {
			t.Fatalf("create: %d %s %s", res.status, res.header.Get("ETag"), res.body)
		}
		n := res.json(t)
		id := n["id"].(string)
		hooks := hooksOf(n)
		if !strings.HasPrefix(id, "ntf_") || res.header.Get("Location") != "/v1/notifications/"+id || n["owner_id"] != "user-1" ||
			n["version"] != float64(1) || len(hooks) != 2 {
			t.Fatalf("created %s", res.body)
		}
		one, two := hooks[0]["id"].(string), hooks[1]["id"].(string)
		secretOne, _ := hooks[0]["secret"].(string)
		if !strings.HasPrefix(one, "wh_") || !strings.HasPrefix(secretOne, "whsec_") || !strings.HasPrefix(hooks[1]["secret"].(string), "whsec_") ||
			hooks[1]["enabled"] != false || hooks[0]["enabled"] != true {
			t.Fatalf("created webhooks %v", hooks)
		}
		digest := n["triggers"].(map[string]any)["digests"].([]any)[0].(map[string]any)
		if digest["period"] != "24h" || digest["time_zone"] != "Europe/London" {
			t.Errorf("digest %v, want the default period of 24h", digest)
		}
		// The delivery path finds the notification's webhooks like any other.
		if ep, ok := endpoint(t, be, "tenant-a", one); !ok || ep.URL != "https://8.8.8.8/n/one" || len(ep.Secrets) != 1 || ep.Secrets[0] != secretOne {
			t.Fatalf("delivery path sees %+v %v for %s", ep, ok, one)
		}

		got := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications/"+id, nil, nil)
		if got.status != 200 || got.header.Get("ETag") != `"1"` || strings.Contains(string(got.body), "whsec_") ||
			!strings.Contains(string(got.body), `"emails":["qa@example.com","lead@example.com"]`) ||
			!strings.Contains(string(got.body), `"slack_channels":["`+alerts+`"]`) {
			t.Fatalf("get: %d %s", got.status, got.body)
		}
		if list := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications", nil, nil); list.status != 200 || !strings.Contains(string(list.body), id) ||
			strings.Contains(string(list.body), "whsec_") {
			t.Fatalf("list: %d %s", list.status, list.body)
		}
		// A notification's webhooks are not stage webhooks, but their delivery log is there.
		if list := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks", nil, nil); strings.Contains(string(list.body), one) {
			t.Errorf("stage webhooks list a notification's webhook: %s", list.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks/"+one+"/attempts", nil, nil); res.status != 200 {
			t.Errorf("attempts of a notification's webhook: %d %s", res.status, res.body)
		}

		stale := http.Header{"Content-Type": {"application/json"}, "If-Match": {`"7"`}}
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/notifications/"+id, []byte(`{"title":"x"}`), stale); res.status != http.StatusPreconditionFailed {
			t.Fatalf("stale If-Match: %d %s", res.status, res.body)
		}
		// Keep one (disabled now), drop two, add three; nothing else given changes.
		patch := fmt.Sprintf(`{"title": "Morning QA digest", "channels": {"webhooks": [{"id": %q, "enabled": false}, {"url": "https://8.8.8.8/n/three"}]}}`, one)
		fresh := http.Header{"Content-Type": {"application/json"}, "If-Match": {`"1"`}}
		upd := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/notifications/"+id, []byte(patch), fresh)
		if upd.status != 200 || upd.header.Get("ETag") != `"2"` {
			t.Fatalf("update: %d %s", upd.status, upd.body)
		}
		u := upd.json(t)
		hooks = hooksOf(u)
		if u["title"] != "Morning QA digest" || u["description"] != "What QA reviews each morning." || len(hooks) != 2 || hooks[0]["id"] != one ||
			hooks[0]["enabled"] != false || hooks[0]["secret"] != nil || !strings.HasPrefix(fmt.Sprint(hooks[1]["secret"]), "whsec_") ||
			!strings.Contains(string(upd.body), `"emails":["qa@example.com","lead@example.com"]`) {
			t.Fatalf("updated %s", upd.body)
		}
		three := hooks[1]["id"].(string)
		if _, ok := endpoint(t, be, "tenant-a", two); ok {
			t.Errorf("webhook %s left out of the update still delivers", two)
		}
		if ep, ok := endpoint(t, be, "tenant-a", three); !ok || ep.URL != "https://8.8.8.8/n/three" {
			t.Errorf("new webhook %s: %+v %v", three, ep, ok)
		}
		if ep, ok := endpoint(t, be, "tenant-a", one); !ok || ep.Enabled || ep.Secrets[0] != secretOne {
			t.Errorf("kept webhook %s: %+v %v, want disabled with its secret", one, ep, ok)
		}

		rot := be.call(t, "tenant-a", "user-1", "POST", "/v1/notifications/"+id+"/webhooks/"+one+"/rotate-secret", nil, nil)
		newSecret, _ := rot.json(t)["secret"].(string)
		if rot.status != 200 || !strings.HasPrefix(newSecret, "whsec_") || rot.header.Get("ETag") != `"3"` {
			t.Fatalf("rotate: %d %s", rot.status, rot.body)
		}
		if ep, _ := endpoint(t, be, "tenant-a", one); len(ep.Secrets) != 2 || ep.Secrets[0] != newSecret || ep.Secrets[1] != secretOne {
			t.Errorf("after rotation the webhook signs with %d secrets, want the new and the old", len(ep.Secrets))
		}
		if res := be.call(t, "tenant-a", "user-1", "POST", "/v1/notifications/"+id+"/webhooks/"+two+"/rotate-secret", nil, nil); res.status != 404 {
			t.Errorf("rotate a deleted webhook: %d %s", res.status, res.body)
		}

		staleDelete := http.Header{"If-Match": {`"1"`}}
		if res := be.call(t, "tenant-a", "user-1", "DELETE", "/v1/notifications/"+id, nil, staleDelete); res.status != http.StatusPreconditionFailed {
			t.Fatalf("delete with a stale If-Match: %d %s", res.status, res.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "DELETE", "/v1/notifications/"+id, nil, nil); res.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", res.status, res.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications/"+id, nil, nil); res.status != 404 {
			t.Fatalf("get after delete: %d", res.status)
		}
		for _, h := range []string{one, three} {
			if _, ok := endpoint(t, be, "tenant-a", h); ok {
				t.Errorf("webhook %s outlives its notification", h)
			}
		}
	})
}

func TestNotificationSearchAndPaging(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		for i, c := range []struct{ user, title string }{
			{"user-1", "Nightly QA digest"}, {"user-2", "qa rejections"}, {"user-1", "Weekly summary"},
			{"user-2", "Submitted tasks"}, {"user-1", "Escalations for QA leads"},
		} {
			createNotification(t, be, "tenant-a", c.user, fmt.Sprintf(`{"title":%q,"projects":["p%d"],"channels":{"emails":["qa@example.com"]},"triggers":{"events":["task_completed"]}}`, c.title, i))
		}
		createNotification(t, be, "tenant-b", "user-1", `{"title":"QA of tenant b","projects":["p"],"channels":{"emails":["b@example.com"]},"triggers":{"events":["task_completed"]}}`)
		titles := func(path string) []string {
			t.Helper()
			var out []string
			for _, it := range items(t, be.call(t, "tenant-a", "user-1", "GET", path, nil, nil)) {
				out = append(out, it["title"].(string))
			}
			return out
		}
		for _, c := range []struct {
			query string
			want  int
		}{
			{"", 5}, {"?title=qa", 3}, {"?title=QA", 3}, {"?title=Qa%20Dig", 1}, {"?title=qa&owner=user-2", 1},
			{"?owner=user-1", 3}, {"?title=nothing-like-it", 0},
		} {
			if got := titles("/v1/notifications" + c.query); len(got) != c.want {
				t.Errorf("%s: %v, want %d", c.query, got, c.want)
			}
		}
		seen := map[string]bool{}
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 4 {
				t.Fatal("paging never ends")
			}
			res := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications?limit=2&cursor="+cursor, nil, nil)
			for _, it := range items(t, res) {
				if seen[it["id"].(string)] {
					t.Fatalf("%s listed twice", it["id"])
				}
				seen[it["id"].(string)] = true
			}
			next, _ := res.json(t)["next_cursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		if len(seen) != 5 {
			t.Errorf("paged %d notifications, want 5", len(seen))
		}
		for _, c := range []struct{ query, field string }{
			{"?limit=0", "limit"}, {"?limit=101", "limit"}, {"?cursor=bogus", "cursor"}, {"?owner=a%23b", "owner"},
		} {
			res := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications"+c.query, nil, nil)
			if res.status != 422 || !strings.Contains(string(res.body), `"field":"`+c.field+`"`) {
				t.Errorf("%s: %d %s, want 422 naming %s", c.query, res.status, res.body, c.field)
			}
		}
	})
}

// TestNotificationBadInputIsAClearProblem: every kind of bad request answers a problem that
// names each field at fault, and nothing is stored.
func TestNotificationBadInputIsAClearProblem(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		mine := connectChannel(t, be, "tenant-a", "user-1", "C0MINE")
		theirs := connectChannel(t, be, "tenant-a", "user-2", "C0THEIRS")
		stage := create(t, be, "tenant-a", "stage-n", "https://8.8.8.8/stage-n")["id"].(string)
		valid := func(channels, triggers string) string {
			return `{"title":"t","projects":["p"],"channels":` + channels + `,"triggers":` + triggers + `}`
		}
		emails := `{"emails":["qa@example.com"]}`
		events := `{"events":["task_completed"]}`
		cases := []struct {
			name, body, contentType string
			status                  int
			problem                 string
			fields                  []string
		}{
			{"malformed JSON", `{"title":`, "application/json", 400, "malformed-json", nil},
			{"wrong type", `{"title":5,"projects":["p"],"channels":` + emails + `,"triggers":` + events + `}`, "application/json", 422, "validation", []string{"title"}},
			{"array as a string", `{"title":"t","projects":"p","channels":` + emails + `,"triggers":` + events + `}`, "application/json", 422, "validation", []string{"projects"}},
			{"missing title", `{"projects":["p"],"channels":` + emails + `,"triggers":` + events + `}`, "application/json", 422, "validation", []string{"title"}},
			{"nothing at all", `{}`, "application/json", 422, "validation", []string{"title", "projects", "channels", "triggers"}},
			{"bad email", valid(`{"emails":["qa@example.com","not an email"]}`, events), "application/json", 422, "validation", []string{"channels.emails[1]"}},
			{"invalid time zone", valid(emails, `{"digests":[{"times_of_day":["09:00"],"time_zone":"Mars/Olympus"}]}`), "application/json", 422, "validation", []string{"triggers.digests[0].time_zone"}},
			{"bad time of day", valid(emails, `{"digests":[{"times_of_day":["9am"],"time_zone":"UTC"}]}`), "application/json", 422, "validation", []string{"triggers.digests[0].times_of_day[0]"}},
			{"bad period", valid(emails, `{"digests":[{"times_of_day":["09:00"],"time_zone":"UTC","period":"daily"}]}`), "application/json", 422, "validation", []string{"triggers.digests[0].period"}},
			{"unknown event type", valid(emails, `{"events":["task_exploded"]}`), "application/json", 422, "validation", []string{"triggers.events[0]"}},
			{"unknown field", `{"title":"t","colour":"red","projects":["p"],"channels":` + emails + `,"triggers":` + events + `}`, "application/json", 422, "validation", []string{"colour"}},
			{"oversized body", `{"title":"` + strings.Repeat("x", 70_000) + `"}`, "application/json", 413, "payload-too-large", nil},
			{"wrong content type", valid(emails, events), "text/plain", 415, "unsupported-media-type", nil},
			{"http webhook URL", valid(`{"webhooks":[{"url":"http://8.8.8.8/n"}]}`, events), "application/json", 422, "validation", []string{"channels.webhooks[0].url"}},
			{"private webhook URL", valid(`{"webhooks":[{"url":"https://10.1.2.3/n"}]}`, events), "application/json", 422, "validation", []string{"channels.webhooks[0].url"}},
			{"webhook without URL", valid(`{"webhooks":[{"enabled":true}]}`, events), "application/json", 422, "validation", []string{"channels.webhooks[0].url"}},
			{"webhook attached by id", valid(`{"webhooks":[{"id":"`+stage+`","url":"https://8.8.8.8/n"}]}`, events), "application/json", 422, "validation", []string{"channels.webhooks[0].id"}},
			{"another user's Slack channel", valid(`{"slack_channels":["`+mine+`","`+theirs+`"]}`, events), "application/json", 422, "validation", []string{"channels.slack_channels[1]"}},
			{"no such Slack channel", valid(`{"slack_channels":["slk_00000000000000000000000000000000"]}`, events), "application/json", 422, "validation", []string{"channels.slack_channels[0]"}},
			{"every problem at once", `{"projects":["p"],"channels":{"emails":["x@"]},"triggers":{"digests":[{"times_of_day":["09:00"],"time_zone":"Nowhere"}]}}`,
				"application/json", 422, "validation", []string{"title", "channels.emails[0]", "triggers.digests[0].time_zone"}},
		}
		for _, c := range cases {
			res := be.call(t, "tenant-a", "user-1", "POST", "/v1/notifications", []byte(c.body), http.Header{"Content-Type": {c.contentType}})
			if res.status != c.status || res.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: %d %s %s, want %d problem+json", c.name, res.status, res.header.Get("Content-Type"), res.body, c.status)
				continue
			}
			if p := res.json(t); p["type"] != "https://herald.dev/problems/"+c.problem {
				t.Errorf("%s: problem %v, want type %s", c.name, p, c.problem)
			}
			for _, f := range c.fields {
				if !strings.Contains(string(res.body), `"field":"`+f+`"`) {
					t.Errorf("%s: problem %s does not name field %s", c.name, res.body, f)
				}
			}
		}
		if got := items(t, be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications", nil, nil)); len(got) != 0 {
			t.Fatalf("bad requests stored %d notifications", len(got))
		}

		// Updates: webhooks are never attached, not even another notification's; only the owner
		// adds Slack channels, and only their own.
		own := createNotification(t, be, "tenant-a", "user-1", valid(`{"slack_channels":["`+mine+`"],"webhooks":[{"url":"https://8.8.8.8/own"}]}`, events))
		other := createNotification(t, be, "tenant-a", "user-1", valid(`{"webhooks":[{"url":"https://8.8.8.8/other"}]}`, events))
		otherHook := hooksOf(other)[0]["id"].(string)
		path := "/v1/notifications/" + own["id"].(string)
		for _, c := range []struct {
			name, user, body, field string
		}{
			{"another notification's webhook", "user-1", `{"channels":{"webhooks":[{"id":"` + otherHook + `"}]}}`, "channels.webhooks[0].id"},
			{"a stage webhook", "user-1", `{"channels":{"webhooks":[{"id":"` + stage + `","url":"https://8.8.8.8/x"}]}}`, "channels.webhooks[0].id"},
			{"another user's channel", "user-1", `{"channels":{"slack_channels":["` + mine + `","` + theirs + `"]}}`, "channels.slack_channels[1]"},
			{"a non-owner adding their own channel", "user-2", `{"channels":{"slack_channels":["` + mine + `","` + theirs + `"]}}`, "channels.slack_channels[1]"},
			{"an empty update", "user-1", `{}`, "(body)"},
			{"a bad time zone", "user-1", `{"triggers":{"digests":[{"times_of_day":["09:00"],"time_zone":"Local"}]}}`, "triggers.digests[0].time_zone"},
		} {
			res := be.call(t, "tenant-a", c.user, "PATCH", path, []byte(c.body), jsonHeader)
			if res.status != 422 || !strings.Contains(string(res.body), `"field":"`+c.field+`"`) {
				t.Errorf("update with %s: %d %s, want 422 naming %s", c.name, res.status, res.body, c.field)
			}
		}
		// Another user of the tenant may edit the notification and keep its owner's channel.
		if res := be.call(t, "tenant-a", "user-2", "PATCH", path, []byte(`{"title":"renamed by user-2"}`), jsonHeader); res.status != 200 ||
			!strings.Contains(string(res.body), mine) {
			t.Errorf("non-owner rename: %d %s", res.status, res.body)
		}
		if got := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications/"+other["id"].(string), nil, nil); got.status != 200 || !strings.Contains(string(got.body), otherHook) {
			t.Errorf("the other notification lost its webhook: %s", got.body)
		}
	})
}

func TestNotificationIdempotencyKeyReplaysCreates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		body := []byte(`{"title":"t","projects":["p"],"channels":{"webhooks":[{"url":"https://8.8.8.8/idem"}]},"triggers":{"events":["task_completed"]}}`)
		h := http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"notification-1"}}
		first := be.call(t, "tenant-a", "user-1", "POST", "/v1/notifications", body, h)
		again := be.call(t, "tenant-a", "user-1", "POST", "/v1/notifications", body, h)
		if first.status != 201 || again.status != 201 || first.json(t)["id"] != again.json(t)["id"] || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("first %d %s; again %d %s", first.status, first.body, again.status, again.body)
		}
		if list := items(t, be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications", nil, nil)); len(list) != 1 {
			t.Fatalf("a replayed create stored %d notifications", len(list))
		}
		other := be.call(t, "tenant-a", "user-1", "POST", "/v1/notifications", []byte(strings.Replace(string(body), "idem", "other", 1)), h)
		if other.status != 422 || !strings.Contains(string(other.body), "idempotency-key-reused") {
			t.Fatalf("same key, other body: %d %s", other.status, other.body)
		}
	})
}

// TestNotificationRoutesAreTenantScoped: tenant B tries every notification route on tenant
// A's notification and gets 404 each time; A's notification is unchanged afterwards.
func TestNotificationRoutesAreTenantScoped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		n := createNotification(t, be, "tenant-a", "user-1", `{"title":"A's","projects":["p"],"channels":{"webhooks":[{"url":"https://8.8.8.8/a"}]},"triggers":{"events":["task_completed"]}}`)
		id, hook := n["id"].(string), hooksOf(n)[0]["id"].(string)
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/v1/notifications/" + id, ""},
			{"PATCH", "/v1/notifications/" + id, `{"title":"B's now"}`},
			{"DELETE", "/v1/notifications/" + id, ""},
			{"POST", "/v1/notifications/" + id + "/webhooks/" + hook + "/rotate-secret", ""},
			{"GET", "/v1/webhooks/" + hook + "/attempts", ""},
		} {
			res := be.call(t, "tenant-b", "user-9", c.method, c.path, []byte(c.body), jsonHeader)
			if res.status != http.StatusNotFound {
				t.Errorf("tenant-b %s %s: %d %s, want 404", c.method, c.path, res.status, res.body)
			}
		}
		// Tenant B cannot take A's webhook into a notification of its own either.
		res := be.call(t, "tenant-b", "user-9", "POST", "/v1/notifications", []byte(`{"title":"B's","projects":["p"],"channels":{"webhooks":[{"id":"`+hook+`","url":"https://8.8.8.8/b"}]},"triggers":{"events":["task_completed"]}}`), jsonHeader)
		if res.status != 422 {
			t.Errorf("tenant-b attaching A's webhook: %d %s", res.status, res.body)
		}
		if list := be.call(t, "tenant-b", "user-9", "GET", "/v1/notifications?title=A", nil, nil); strings.Contains(string(list.body), id) {
			t.Errorf("tenant-b lists tenant-a's notification: %s", list.body)
		}
		got := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications/"+id, nil, nil)
		if got.status != 200 || got.header.Get("ETag") != `"1"` || got.json(t)["title"] != "A's" {
			t.Fatalf("tenant-a's notification changed: %d %s", got.status, got.body)
		}
	})
}

func TestNotificationEventCatalogue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		res := be.call(t, "tenant-a", "user-1", "GET", "/v1/notification-events", nil, nil)
		byType := map[string]map[string]any{}
		for _, it := range items(t, res) {
			byType[it["type"].(string)] = it
		}
		if len(byType) != 6 || byType["task_submitted"]["produced"] != true || byType["label_submitted"]["produced"] != true || byType["task_assigned"]["produced"] != true ||
			!strings.Contains(fmt.Sprint(byType["task_completed"]["source"]), "Task Stage Transition") || byType["label_rejected"]["description"] == "" {
			t.Fatalf("catalogue %s", res.body)
		}
		if res := be.call(t, "", "", "GET", "/v1/notification-events", nil, nil); res.status != 401 {
			t.Errorf("catalogue without credentials: %d", res.status)
		}
	})
}

// TestNotificationWebhookTestSend: a notification's webhook can be sent a test event like a
// stage webhook, queued for that webhook, and only by its own tenant.
func TestNotificationWebhookTestSend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		n := createNotification(t, be, "tenant-a", "user-1", `{"title":"Test send","projects":["p1"],
			"channels":{"webhooks":[{"url":"https://8.8.8.8/test-send"}]},"triggers":{"events":["task_submitted"]}}`)
		hookID := n["channels"].(map[string]any)["webhooks"].([]any)[0].(map[string]any)["id"].(string)
		if res := be.call(t, "tenant-b", "user-1", "POST", "/v1/webhooks/"+hookID+"/test", nil, nil); res.status != http.StatusNotFound {
			t.Fatalf("another tenant's test send: %d %s", res.status, res.body)
		}
		deliveryID := sendTestEvent(t, be, "tenant-a", hookID)
		job := takeJobs(t, be, 1)[0]
		if job.WebhookID != hookID || job.TenantID != "tenant-a" || job.ID != deliveryID || job.EventType != "task_submitted_event" {
			t.Fatalf("queued %+v for delivery %s", job, deliveryID)
		}
		var env struct {
			EventType string `json:"event_type"`
			Payload   struct {
				ProjectHash string `json:"project_hash"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(job.Payload, &env); err != nil || env.EventType != "task_submitted_event" || !strings.HasPrefix(env.Payload.ProjectHash, "test-") {
			t.Fatalf("payload %s (%v)", job.Payload, err)
		}
		// Its delivery log and recover are a stage webhook's.
		if got := items(t, be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks/"+hookID+"/attempts", nil, nil)); len(got) != 0 {
			t.Fatalf("attempts before any delivery: %v", got)
		}
		res := be.call(t, "tenant-a", "user-1", "POST", "/v1/webhooks/"+hookID+"/recover", []byte(`{"since":"`+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)+`"}`), jsonHeader)
		if res.status != http.StatusAccepted || res.json(t)["queued"] != float64(0) {
			t.Fatalf("recover: %d %s", res.status, res.body)
		}
	})
}

// TestSlackChannelAttempts: a Slack channel's delivery log is its owner's to read.
func TestSlackChannelAttempts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		channelID := connectChannel(t, be, "tenant-a", "user-1", "C0ATTEMPTS")
		attempt := delivery.Attempt{
			TenantID: "tenant-a", WebhookID: channelID, DeliveryID: "d-slack-1", EventType: "task_submitted_event", Number: 1,
			At: time.Now().Add(-time.Minute).UTC(), StatusCode: 429, Outcome: delivery.OutcomeRetrying, Payload: []byte(`{"blocks":[]}`),
		}
		if err := be.attempts.RecordAttempts(context.Background(), []delivery.Attempt{attempt}); err != nil {
			t.Fatal(err)
		}
		got := items(t, be.call(t, "tenant-a", "user-1", "GET", "/v1/slack/channels/"+channelID+"/attempts", nil, nil))
		if len(got) != 1 || got[0]["delivery_id"] != "d-slack-1" || got[0]["status_code"] != float64(429) {
			t.Fatalf("attempts %v", got)
		}
		for _, who := range [][2]string{{"tenant-a", "user-2"}, {"tenant-b", "user-1"}} {
			if res := be.call(t, who[0], who[1], "GET", "/v1/slack/channels/"+channelID+"/attempts", nil, nil); res.status != http.StatusNotFound {
				t.Fatalf("%v reads another's channel attempts: %d %s", who, res.status, res.body)
			}
		}
	})
}

// TestDigestPreview: the digest_event payload a notification would send now, from the
// activity recorded for its projects and its tenant only, in its documented schema.
func TestDigestPreview(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		n := createNotification(t, be, "tenant-a", "user-1", `{"title":"Daily","projects":["p1","p2"],
			"channels":{"emails":["lead@example.com"]},"triggers":{"digests":[{"times_of_day":["09:00"],"time_zone":"Europe/London"}]}}`)
		id := n["id"].(string)
		now := time.Now().UTC()
		at := func(ago time.Duration) time.Time { return now.Add(-ago) }
		err := be.activity.RecordActivity(context.Background(), []digest.Activity{
			{ID: "a1", TenantID: "tenant-a", ProjectHash: "p1", At: at(time.Hour), Kind: digest.KindLabelSubmitted, User: "ann@example.com", TimeSpentMS: 1200},
			{ID: "a2", TenantID: "tenant-a", ProjectHash: "p1", At: at(50 * time.Minute), Kind: digest.KindLabelReviewed, User: "rev@example.com", Annotator: "ann@example.com", TimeSpentMS: 300},
			{ID: "a3", TenantID: "tenant-a", ProjectHash: "p1", At: at(3 * 24 * time.Hour), Kind: digest.KindLabelSubmitted, User: "old@example.com", TimeSpentMS: 1},
			{ID: "a4", TenantID: "tenant-b", ProjectHash: "p2", At: at(time.Hour), Kind: digest.KindLabelSubmitted, User: "rival@example.com", TimeSpentMS: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		res := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications/"+id+"/digest-preview", nil, nil)
		if res.status != http.StatusOK {
			t.Fatalf("preview: %d %s", res.status, res.body)
		}
		var p payloads.DigestPayload
		if err := json.Unmarshal(res.body, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.ProjectsStats) != 2 || p.ProjectsStats[0].ProjectHash != "p1" || len(p.ProjectsStats[1].AnnotatorStats) != 0 {
			t.Fatalf("preview %s", res.body)
		}
		ann := p.ProjectsStats[0].AnnotatorStats
		if len(ann) != 1 || ann[0].UserEmail != "ann@example.com" || ann[0].SubmittedLabels != 1 || ann[0].AcceptedLabels != 0 ||
			ann[0].RejectedLabels != 1 || ann[0].AvgTimeForAdd == nil || *ann[0].AvgTimeForAdd != 1200 || *ann[0].RejectionRate != 1 {
			t.Fatalf("annotators %s", res.body)
		}
		start, _ := time.Parse(time.RFC3339, p.Period.Start)
		end, _ := time.Parse(time.RFC3339, p.Period.End)
		if end.Sub(start) != 24*time.Hour || end.Before(now.Add(-time.Minute)) {
			t.Fatalf("period %+v, want the 24 h ending now", p.Period)
		}
		body, _ := payloads.Marshal("00000000-0000-4000-8000-000000000000", payloads.Digest, end, p)
		doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err := contract.DigestSchema(t).Validate(doc); err != nil {
			t.Fatalf("preview does not fit digest_event: %v", err)
		}
		week := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications/"+id+"/digest-preview?period=7d", nil, nil)
		if !strings.Contains(string(week.body), "old@example.com") {
			t.Fatalf("7-day preview lacks the activity of 3 days ago: %s", week.body)
		}
		// A period that ended 2 days ago: the activity of 3 days ago is in it, today's is not.
		ended := now.Add(-48 * time.Hour).Truncate(time.Second)
		past := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications/"+id+"/digest-preview?end="+url.QueryEscape(ended.Format(time.RFC3339)), nil, nil)
		if !strings.Contains(string(past.body), "old@example.com") || strings.Contains(string(past.body), "ann@example.com") ||
			!strings.Contains(string(past.body), `"end":"`+payloads.NewPeriod(ended.Add(-24*time.Hour), ended).End) {
			t.Fatalf("the 24 h ending %s: %d %s", ended, past.status, past.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications/"+id+"/digest-preview?end=yesterday", nil, nil); res.status != http.StatusUnprocessableEntity || !strings.Contains(string(res.body), `"end"`) {
			t.Errorf("end=yesterday: %d %s", res.status, res.body)
		}
		for _, bad := range []string{"0h", "8d", "soon", "-1h"} {
			if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications/"+id+"/digest-preview?period="+bad, nil, nil); res.status != http.StatusUnprocessableEntity || !strings.Contains(string(res.body), `"period"`) {
				t.Errorf("period=%s: %d %s", bad, res.status, res.body)
			}
		}
		// A draft's projects, before the notification is saved: the same stats, the tenant's own.
		draft := be.call(t, "tenant-a", "user-1", "GET", "/v1/digest-preview?project=p1&project=p2&period=7d", nil, nil)
		statsOf := func(body []byte) string {
			var p struct {
				Stats json.RawMessage `json:"projects_stats"`
			}
			_ = json.Unmarshal(body, &p)
			return string(p.Stats)
		}
		if draft.status != http.StatusOK || statsOf(draft.body) == "" || statsOf(draft.body) != statsOf(week.body) {
			t.Fatalf("draft preview %d %s; the notification's %s", draft.status, draft.body, week.body)
		}
		if rival := be.call(t, "tenant-b", "user-1", "GET", "/v1/digest-preview?project=p1&project=p2", nil, nil); strings.Contains(string(rival.body), "ann@example.com") {
			t.Fatalf("another tenant previews tenant-a's activity: %s", rival.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/digest-preview", nil, nil); res.status != http.StatusUnprocessableEntity || !strings.Contains(string(res.body), `"project"`) {
			t.Fatalf("a draft preview without projects: %d %s", res.status, res.body)
		}
		if res := be.call(t, "tenant-b", "user-1", "GET", "/v1/notifications/"+id+"/digest-preview", nil, nil); res.status != http.StatusNotFound {
			t.Fatalf("another tenant's preview: %d %s", res.status, res.body)
		}
	})
}

// TestDigestSchedules: a notification's digests are scheduled when it is created, keep their
// due times through edits of other fields, and are unscheduled with their triggers or the
// notification.
func TestDigestSchedules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		n := createNotification(t, be, "tenant-a", "user-1", `{"title":"Daily","projects":["p1"],"channels":{"emails":["lead@example.com"]},
			"triggers":{"digests":[{"times_of_day":["09:00","17:30"],"time_zone":"Asia/Kathmandu","skip_empty":true}]}}`)
		id := n["id"].(string)
		if d := n["triggers"].(map[string]any)["digests"].([]any)[0].(map[string]any); d["skip_empty"] != true || d["period"] != "24h" {
			t.Fatalf("digest view %v", d)
		}
		read := func() (digest.Schedule, bool) {
			t.Helper()
			s, found, err := be.schedules.GetSchedule(context.Background(), "tenant-a", id)
			if err != nil {
				t.Fatal(err)
			}
			return s, found
		}
		s, found := read()
		kathmandu, _ := time.LoadLocation("Asia/Kathmandu")
		if !found || len(s.Slots) != 2 || s.NextDue.After(time.Now().Add(24*time.Hour)) || !s.NextDue.After(time.Now()) {
			t.Fatalf("schedule %+v, found %v", s, found)
		}
		if local := s.NextDue.In(kathmandu).Format("15:04"); local != "09:00" && local != "17:30" {
			t.Fatalf("next due at %s local, want 09:00 or 17:30", local)
		}
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/notifications/"+id, []byte(`{"title":"Daily QA"}`), jsonHeader); res.status != http.StatusOK {
			t.Fatalf("rename: %d %s", res.status, res.body)
		}
		if again, _ := read(); !again.NextDue.Equal(s.NextDue) || len(again.Slots) != 2 {
			t.Fatalf("after a rename %+v, want %+v", again, s)
		}
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/notifications/"+id, []byte(`{"triggers":{"events":["task_submitted"],"digests":[]}}`), jsonHeader); res.status != http.StatusOK {
			t.Fatalf("drop the digests: %d %s", res.status, res.body)
		}
		if _, found := read(); found {
			t.Fatal("a notification without digests is still scheduled")
		}
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/notifications/"+id, []byte(`{"triggers":{"digests":[{"times_of_day":["08:00"],"time_zone":"UTC"}]}}`), jsonHeader); res.status != http.StatusOK {
			t.Fatalf("add a digest: %d %s", res.status, res.body)
		}
		if s, found := read(); !found || s.NextDue.UTC().Format("15:04") != "08:00" {
			t.Fatalf("schedule %+v, %v", s, found)
		}
		if res := be.call(t, "tenant-a", "user-1", "DELETE", "/v1/notifications/"+id, nil, nil); res.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", res.status, res.body)
		}
		if _, found := read(); found {
			t.Fatal("a deleted notification is still scheduled")
		}
	})
}

// A notification's webhook takes a rate limit as a stage webhook does: validated at its field,
// shown back, kept by edits that leave it out, and seen by the delivery path.
func TestNotificationWebhookRateLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		jsonBody := http.Header{"Content-Type": {"application/json"}}
		body := func(limit int) []byte {
			return fmt.Appendf(nil, `{"title":"t","projects":["p"],"channels":{"webhooks":[{"url":"https://8.8.8.8/n","rate_limit_per_second":%d}]},"triggers":{"events":["task_submitted"]}}`, limit)
		}
		if res := be.call(t, "tenant-a", "user-1", "POST", "/v1/notifications", body(-1), jsonBody); res.status != 422 ||
			!strings.Contains(string(res.body), `"field":"channels.webhooks[0].rate_limit_per_second"`) {
			t.Fatalf("a negative limit: %d %s", res.status, res.body)
		}
		created := be.call(t, "tenant-a", "user-1", "POST", "/v1/notifications", body(7), jsonBody)
		hooks := hooksOf(created.json(t))
		if created.status != 201 || len(hooks) != 1 || hooks[0]["rate_limit_per_second"] != float64(7) {
			t.Fatalf("create: %d %s", created.status, created.body)
		}
		id, hookID := created.json(t)["id"].(string), hooks[0]["id"].(string)
		patch := fmt.Appendf(nil, `{"title":"t2","channels":{"webhooks":[{"id":%q}]}}`, hookID)
		upd := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/notifications/"+id, patch, jsonBody)
		if hooks := hooksOf(upd.json(t)); upd.status != 200 || hooks[0]["rate_limit_per_second"] != float64(7) {
			t.Fatalf("an edit that leaves the limit out: %d %s", upd.status, upd.body)
		}
		ref := delivery.EndpointRef{TenantID: "tenant-a", WebhookID: hookID}
		if eps, err := be.endpoints.Endpoints(context.Background(), []delivery.EndpointRef{ref}); err != nil || eps[ref].RateLimitPerSecond != 7 {
			t.Fatalf("the delivery path sees a limit of %d (%v)", eps[ref].RateLimitPerSecond, err)
		}
	})
}

// A notification's webhook takes ordered as a stage webhook does: shown (false unless asked),
// told to the event path, kept by an edit that leaves it out, changed by an edit of only it,
// and refused, at its field, when not a boolean.
func TestNotificationWebhookOrdered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		subscriptions, ok := be.endpoints.(notify.SubscriptionFinder)
		if !ok {
			t.Fatalf("the store %T does not find subscriptions", be.endpoints)
		}
		orderedOf := func() string {
			t.Helper()
			subs, err := subscriptions.SubscriptionsForProject(context.Background(), "tenant-a", "p")
			if err != nil || len(subs) != 1 {
				t.Fatalf("subscriptions %+v, %v", subs, err)
			}
			return fmt.Sprint(subs[0].OrderedWebhookIDs)
		}
		bad := []byte(`{"title":"t","projects":["p"],"channels":{"webhooks":[{"url":"https://8.8.8.8/n","ordered":"yes"}]},"triggers":{"events":["task_submitted"]}}`)
		if res := be.call(t, "tenant-a", "user-1", "POST", "/v1/notifications", bad, jsonHeader); res.status != 422 ||
			!strings.Contains(string(res.body), `"field":"channels.webhooks.ordered"`) {
			t.Fatalf("ordered not a boolean: %d %s", res.status, res.body)
		}
		created := createNotification(t, be, "tenant-a", "user-1",
			`{"title":"t","projects":["p"],"channels":{"webhooks":[{"url":"https://8.8.8.8/n","ordered":true},{"url":"https://8.8.4.4/n"}]},"triggers":{"events":["task_submitted"]}}`)
		hooks := hooksOf(created)
		if len(hooks) != 2 || hooks[0]["ordered"] != true || hooks[1]["ordered"] != false {
			t.Fatalf("create: %v", hooks)
		}
		id, first, second := created["id"].(string), hooks[0]["id"].(string), hooks[1]["id"].(string)
		if got := orderedOf(); got != "["+first+"]" {
			t.Fatalf("the event path sees ordered %s, want [%s]", got, first)
		}

		patch := fmt.Appendf(nil, `{"title":"t2","channels":{"webhooks":[{"id":%q},{"id":%q}]}}`, first, second)
		upd := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/notifications/"+id, patch, jsonHeader)
		if hooks := hooksOf(upd.json(t)); upd.status != 200 || hooks[0]["ordered"] != true || hooks[1]["ordered"] != false {
			t.Fatalf("an edit that leaves ordered out: %d %s", upd.status, upd.body)
		}
		patch = fmt.Appendf(nil, `{"channels":{"webhooks":[{"id":%q,"ordered":false},{"id":%q,"ordered":true}]}}`, first, second)
		upd = be.call(t, "tenant-a", "user-1", "PATCH", "/v1/notifications/"+id, patch, jsonHeader)
		if hooks := hooksOf(upd.json(t)); upd.status != 200 || hooks[0]["ordered"] != false || hooks[1]["ordered"] != true {
			t.Fatalf("an edit of only ordered: %d %s", upd.status, upd.body)
		}
		got := be.call(t, "tenant-a", "user-1", "GET", "/v1/notifications/"+id, nil, nil)
		if hooks := hooksOf(got.json(t)); hooks[0]["ordered"] != false || hooks[1]["ordered"] != true {
			t.Fatalf("read back after an edit of only ordered: %s", got.body)
		}
		if got := orderedOf(); got != "["+second+"]" {
			t.Fatalf("the event path sees ordered %s after the edit, want [%s]", got, second)
		}
	})
}
