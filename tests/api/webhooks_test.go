package api_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/awsfixture"
)

// noDNS fails every lookup: webhook URLs in these tests are public IP literals, and a name
// must not quietly resolve to something else.
func noDNS() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
}

func dynamoEndpoints(b *awsfixture.Backend) delivery.EndpointSource {
	return dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable)
}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

func create(t *testing.T, be backend, tenant, stage, url string) map[string]any {
	t.Helper()
	body := fmt.Sprintf(`{"project_hash":"proj-1","stage_uuid":%q,"stage_type":"annotate","url":%q}`, stage, url)
	res := be.call(t, tenant, "user-1", "POST", "/v1/webhooks", []byte(body), jsonHeader)
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	return res.json(t)
}

// stageOrdering is the router's view of a stage's webhooks, by id: whether each is ordered. It
// reads the store behind the delivery path's endpoints, which is also the router's.
func stageOrdering(t *testing.T, be backend, tenant, project, stage string) map[string]bool {
	t.Helper()
	finder, ok := be.endpoints.(stagehooks.TargetFinder)
	if !ok {
		t.Fatalf("%s: the store %T does not find stage targets", be.name, be.endpoints)
	}
	targets, err := finder.TargetsForStage(context.Background(), tenant, project, stage)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, tg := range targets {
		out[tg.WebhookID] = tg.Ordered
	}
	return out
}

func forEachBackend(t *testing.T, test func(t *testing.T, be backend)) {
	forEachBackendWith(t, backendOptions{}, test)
}

func forEachBackendWith(t *testing.T, opts backendOptions, test func(t *testing.T, be backend)) {
	for _, mk := range backends(t, opts) {
		t.Run("", func(t *testing.T) {
			be := mk(t)
			t.Run(be.name, func(t *testing.T) { test(t, be) })
		})
	}
}

func TestWebhookLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		created := create(t, be, "tenant-a", "stage-1", "https://8.8.8.8/hooks/a")
		id, _ := created["id"].(string)
		secret, _ := created["secret"].(string)
		if !strings.HasPrefix(id, "wh_") || !strings.HasPrefix(secret, "whsec_") || created["version"] != float64(1) || created["ordered"] != false {
			t.Fatalf("created %v", created)
		}

		got := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks/"+id, nil, nil)
		if got.status != 200 || got.header.Get("ETag") != `"1"` || strings.Contains(string(got.body), "whsec_") {
			t.Fatalf("get: %d %s %s", got.status, got.header.Get("ETag"), got.body)
		}
		list := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks", nil, nil)
		if list.status != 200 || !strings.Contains(string(list.body), id) || strings.Contains(string(list.body), "whsec_") {
			t.Fatalf("list: %d %s", list.status, list.body)
		}

		stale := http.Header{"Content-Type": {"application/json"}, "If-Match": {`"7"`}}
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/webhooks/"+id, []byte(`{"enabled":false}`), stale); res.status != http.StatusPreconditionFailed {
			t.Fatalf("stale If-Match: %d %s", res.status, res.body)
		}
		fresh := http.Header{"Content-Type": {"application/json"}, "If-Match": {`"1"`}}
		upd := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/webhooks/"+id, []byte(`{"enabled":false,"url":"https://8.8.4.4/hooks/b"}`), fresh)
		if upd.status != 200 || upd.header.Get("ETag") != `"2"` {
			t.Fatalf("update: %d %s", upd.status, upd.body)
		}
		if m := upd.json(t); m["enabled"] != false || m["url"] != "https://8.8.4.4/hooks/b" || m["rate_limit_per_second"] != nil {
			t.Fatalf("updated %v", m)
		}
		// A rate limit, set and shown, reaches the delivery path; 0 removes it.
		jsonBody := http.Header{"Content-Type": {"application/json"}}
		limited := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/webhooks/"+id, []byte(`{"rate_limit_per_second":25}`), jsonBody)
		if limited.status != 200 || limited.json(t)["rate_limit_per_second"] != float64(25) {
			t.Fatalf("set a rate limit: %d %s", limited.status, limited.body)
		}
		limitRef := delivery.EndpointRef{TenantID: "tenant-a", WebhookID: id}
		if eps, err := be.endpoints.Endpoints(context.Background(), []delivery.EndpointRef{limitRef}); err != nil || eps[limitRef].RateLimitPerSecond != 25 {
			t.Fatalf("the delivery path sees a limit of %d (%v)", eps[limitRef].RateLimitPerSecond, err)
		}
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/webhooks/"+id, []byte(`{"rate_limit_per_second":-5}`), jsonBody); res.status != 422 ||
			!strings.Contains(string(res.body), `"field":"rate_limit_per_second"`) {
			t.Fatalf("a negative limit: %d %s", res.status, res.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/webhooks/"+id, []byte(`{"rate_limit_per_second":0}`), jsonBody); res.status != 200 ||
			res.json(t)["rate_limit_per_second"] != nil {
			t.Fatalf("remove the limit: %d %s", res.status, res.body)
		}
		// The address told when Herald disables the webhook for failing.
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/webhooks/"+id, []byte(`{"alert_email":"Ops <ops@example.com>"}`), jsonBody); res.status != 422 ||
			!strings.Contains(string(res.body), `"field":"alert_email"`) {
			t.Fatalf("an address with a display name: %d %s", res.status, res.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/webhooks/"+id, []byte(`{"alert_email":"ops@example.com"}`), jsonBody); res.status != 200 ||
			res.json(t)["alert_email"] != "ops@example.com" {
			t.Fatalf("set the alert address: %d %s", res.status, res.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks/"+id, nil, nil); res.json(t)["alert_email"] != "ops@example.com" {
			t.Fatalf("read back: %s", res.body)
		}
		// Ordered delivery, set, shown, seen by the router, kept by a PATCH that leaves it out,
		// refused when not a boolean, and turned off by false.
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/webhooks/"+id, []byte(`{"ordered":true}`), jsonBody); res.status != 200 ||
			res.json(t)["ordered"] != true {
			t.Fatalf("set ordered: %d %s", res.status, res.body)
		}
		if routed := stageOrdering(t, be, "tenant-a", "proj-1", "stage-1"); !routed[id] {
			t.Fatalf("the router sees %v", routed)
		}
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/webhooks/"+id, []byte(`{"enabled":true}`), jsonBody); res.status != 200 ||
			res.json(t)["ordered"] != true {
			t.Fatalf("an update that leaves ordered out: %d %s", res.status, res.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/webhooks/"+id, []byte(`{"ordered":"yes"}`), jsonBody); res.status != 422 ||
			!strings.Contains(string(res.body), `"field":"ordered"`) {
			t.Fatalf("ordered not a boolean: %d %s", res.status, res.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks/"+id, nil, nil); res.json(t)["ordered"] != true {
			t.Fatalf("read back after the refused update: %s", res.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "PATCH", "/v1/webhooks/"+id, []byte(`{"ordered":false}`), jsonBody); res.status != 200 ||
			res.json(t)["ordered"] != false {
			t.Fatalf("turn ordered off: %d %s", res.status, res.body)
		}
		if routed := stageOrdering(t, be, "tenant-a", "proj-1", "stage-1"); routed[id] {
			t.Fatalf("the router sees %v after ordered was turned off", routed)
		}
		orderedBody := []byte(`{"project_hash":"proj-1","stage_uuid":"stage-2","stage_type":"complete","url":"https://8.8.8.8/hooks/o","ordered":true}`)
		res := be.call(t, "tenant-a", "user-1", "POST", "/v1/webhooks", orderedBody, jsonBody)
		orderedID, _ := res.json(t)["id"].(string)
		if res.status != 201 || res.json(t)["ordered"] != true {
			t.Fatalf("create an ordered webhook: %d %s", res.status, res.body)
		}
		if got := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks/"+orderedID, nil, nil); got.json(t)["ordered"] != true {
			t.Fatalf("read back the ordered webhook: %s", got.body)
		}
		if routed := stageOrdering(t, be, "tenant-a", "proj-1", "stage-2"); !routed[orderedID] {
			t.Fatalf("the router sees %v for the webhook created ordered", routed)
		}

		rot := be.call(t, "tenant-a", "user-1", "POST", "/v1/webhooks/"+id+"/rotate-secret", nil, nil)
		newSecret, _ := rot.json(t)["secret"].(string)
		if rot.status != 200 || !strings.HasPrefix(newSecret, "whsec_") || newSecret == secret {
			t.Fatalf("rotate: %d %s", rot.status, rot.body)
		}
		ref := delivery.EndpointRef{TenantID: "tenant-a", WebhookID: id}
		eps, err := be.endpoints.Endpoints(context.Background(), []delivery.EndpointRef{ref})
		if err != nil {
			t.Fatal(err)
		}
		if s := eps[ref].Secrets; len(s) != 2 || s[0] != newSecret || s[1] != secret {
			t.Fatalf("after rotation deliveries sign with %d secrets, want the new and the old", len(s))
		}

		test := be.call(t, "tenant-a", "user-1", "POST", "/v1/webhooks/"+id+"/test", nil, nil)
		if test.status != http.StatusAccepted {
			t.Fatalf("test event: %d %s", test.status, test.body)
		}
		jobs := be.jobs(t)
		if len(jobs) != 1 || jobs[0].WebhookID != id || jobs[0].EventType != stagehooks.EventTaskSubmitted || jobs[0].ID != test.json(t)["delivery_id"] {
			t.Fatalf("queued jobs %+v for test response %s", jobs, test.body)
		}

		if res := be.call(t, "tenant-a", "user-1", "DELETE", "/v1/webhooks/"+id, nil, nil); res.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", res.status, res.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks/"+id, nil, nil); res.status != http.StatusNotFound {
			t.Fatalf("get after delete: %d", res.status)
		}
	})
}

// TestEveryRouteIsTenantScoped: tenant B tries every route on tenant A's webhook and gets 404
// each time; A's webhook is unchanged afterwards.
func TestEveryRouteIsTenantScoped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		id := create(t, be, "tenant-a", "stage-1", "https://8.8.8.8/hooks/a")["id"].(string)
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/v1/webhooks/" + id, ""},
			{"PATCH", "/v1/webhooks/" + id, `{"enabled":false}`},
			{"DELETE", "/v1/webhooks/" + id, ""},
			{"POST", "/v1/webhooks/" + id + "/rotate-secret", ""},
			{"POST", "/v1/webhooks/" + id + "/test", ""},
		} {
			res := be.call(t, "tenant-b", "user-9", c.method, c.path, []byte(c.body), jsonHeader)
			if res.status != http.StatusNotFound {
				t.Errorf("tenant-b %s %s: %d %s, want 404", c.method, c.path, res.status, res.body)
			}
		}
		if list := be.call(t, "tenant-b", "user-9", "GET", "/v1/webhooks", nil, nil); strings.Contains(string(list.body), id) {
			t.Errorf("tenant-b lists tenant-a's webhook: %s", list.body)
		}
		got := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks/"+id, nil, nil)
		if got.status != 200 || got.header.Get("ETag") != `"1"` {
			t.Fatalf("tenant-a's webhook changed: %d %s", got.status, got.body)
		}
		if len(be.jobs(t)) != 0 {
			t.Fatal("tenant-b queued a test event on tenant-a's webhook")
		}
	})
}

func TestBadInputIsAClearProblem(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		create(t, be, "tenant-a", "stage-dup", "https://8.8.8.8/hooks/dup")
		valid := `"project_hash":"p","stage_uuid":"s","stage_type":"annotate"`
		cases := []struct {
			name, body, contentType string
			status                  int
			problem, field          string
		}{
			{"malformed JSON", `{"project_hash":`, "application/json", 400, "malformed-json", ""},
			{"trailing data", `{` + valid + `,"url":"https://8.8.8.8/a"} {}`, "application/json", 400, "malformed-json", ""},
			{"wrong type", `{` + valid + `,"url":"https://8.8.8.8/a","enabled":"yes"}`, "application/json", 422, "validation", "enabled"},
			{"missing fields", `{"stage_type":"annotate"}`, "application/json", 422, "validation", "project_hash"},
			{"unknown stage type", `{"project_hash":"p","stage_uuid":"s","stage_type":"review","url":"https://8.8.8.8/a"}`, "application/json", 422, "validation", "stage_type"},
			{"unknown field", `{` + valid + `,"url":"https://8.8.8.8/a","colour":"red"}`, "application/json", 422, "validation", "colour"},
			{"plain http", `{` + valid + `,"url":"http://8.8.8.8/a"}`, "application/json", 422, "validation", "url"},
			{"private address", `{` + valid + `,"url":"https://10.0.0.7/a"}`, "application/json", 422, "validation", "url"},
			{"metadata address", `{` + valid + `,"url":"https://169.254.169.254/latest"}`, "application/json", 422, "validation", "url"},
			{"loopback", `{` + valid + `,"url":"https://127.0.0.1:8443/a"}`, "application/json", 422, "validation", "url"},
			{"not a URL", `{` + valid + `,"url":"hooks.example.com"}`, "application/json", 422, "validation", "url"},
			{"negative rate limit", `{` + valid + `,"url":"https://8.8.8.8/a","rate_limit_per_second":-1}`, "application/json", 422, "validation", "rate_limit_per_second"},
			{"rate limit too high", `{` + valid + `,"url":"https://8.8.8.8/a","rate_limit_per_second":10001}`, "application/json", 422, "validation", "rate_limit_per_second"},
			{"alert email not an address", `{` + valid + `,"url":"https://8.8.8.8/a","alert_email":"ops"}`, "application/json", 422, "validation", "alert_email"},
			{"ordered not a boolean", `{` + valid + `,"url":"https://8.8.8.8/a","ordered":"yes"}`, "application/json", 422, "validation", "ordered"},
			{"ordered a number", `{` + valid + `,"url":"https://8.8.8.8/a","ordered":1}`, "application/json", 422, "validation", "ordered"},
			{"duplicate URL", `{"project_hash":"proj-1","stage_uuid":"stage-dup","stage_type":"annotate","url":"https://8.8.8.8/hooks/dup"}`, "application/json", 409, "duplicate-url", "url"},
			{"wrong content type", `{` + valid + `,"url":"https://8.8.8.8/a"}`, "text/plain", 415, "unsupported-media-type", ""},
			{"oversized body", `{"project_hash":"` + strings.Repeat("x", 70_000) + `"}`, "application/json", 413, "payload-too-large", ""},
		}
		for _, c := range cases {
			res := be.call(t, "tenant-a", "user-1", "POST", "/v1/webhooks", []byte(c.body), http.Header{"Content-Type": {c.contentType}})
			if res.status != c.status || res.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: %d %s %s, want %d problem+json", c.name, res.status, res.header.Get("Content-Type"), res.body, c.status)
				continue
			}
			p := res.json(t)
			if p["type"] != "https://herald.dev/problems/"+c.problem || p["status"] != float64(c.status) {
				t.Errorf("%s: problem %v, want type %s", c.name, p, c.problem)
			}
			if c.field != "" && !strings.Contains(string(res.body), `"field":"`+c.field+`"`) {
				t.Errorf("%s: problem %s does not name field %s", c.name, res.body, c.field)
			}
		}
		// Every invalid field at once, each with its reason.
		many := be.call(t, "tenant-a", "user-1", "POST", "/v1/webhooks",
			[]byte(`{"project_hash":"p#1","stage_uuid":"s s","stage_type":"review","url":"hooks.example.com"}`), http.Header{"Content-Type": {"application/json"}})
		for _, field := range []string{"project_hash", "stage_uuid", "stage_type", "url"} {
			if many.status != 422 || !strings.Contains(string(many.body), `"field":"`+field+`"`) {
				t.Errorf("four invalid fields: %d %s; want an issue for %s", many.status, many.body, field)
			}
		}
		// One URL rule for both kinds of webhook: at most 2048 bytes, refused before any DNS.
		long := "https://8.8.8.8/" + strings.Repeat("a", 2048)
		for _, c := range []struct{ method, path, body, field string }{
			{"POST", "/v1/webhooks", `{` + valid + `,"url":"` + long + `"}`, "url"},
			{"POST", "/v1/notifications", `{"title":"t","projects":["p"],"channels":{"webhooks":[{"url":"` + long + `"}]},"triggers":{"events":["task_submitted"]}}`, "channels.webhooks[0].url"},
		} {
			res := be.call(t, "tenant-a", "user-1", c.method, c.path, []byte(c.body), http.Header{"Content-Type": {"application/json"}})
			if res.status != 422 || !strings.Contains(string(res.body), `"field":"`+c.field+`"`) || !strings.Contains(string(res.body), "at most 2048 bytes") {
				t.Errorf("%s %s with a %d-byte URL: %d %s", c.method, c.path, len(long), res.status, res.body)
			}
		}
		if res := be.call(t, "", "", "GET", "/v1/webhooks", nil, nil); res.status != 401 || !strings.Contains(string(res.body), "unauthorized") {
			t.Errorf("no credentials: %d %s", res.status, res.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks?limit=1000", nil, nil); res.status != 422 {
			t.Errorf("limit=1000: %d %s", res.status, res.body)
		}
	})
}

func TestIdempotencyKeyReplaysCreates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		body := []byte(`{"project_hash":"p","stage_uuid":"s","stage_type":"complete","url":"https://8.8.8.8/idem"}`)
		h := http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"create-1"}}
		first := be.call(t, "tenant-a", "user-1", "POST", "/v1/webhooks", body, h)
		again := be.call(t, "tenant-a", "user-1", "POST", "/v1/webhooks", body, h)
		if first.status != 201 || again.status != 201 || first.json(t)["id"] != again.json(t)["id"] || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("first %d %s; again %d %s", first.status, first.body, again.status, again.body)
		}
		other := be.call(t, "tenant-a", "user-1", "POST", "/v1/webhooks", []byte(strings.Replace(string(body), "idem", "other", 1)), h)
		if other.status != 422 || !strings.Contains(string(other.body), "idempotency-key-reused") {
			t.Fatalf("same key, other body: %d %s", other.status, other.body)
		}
		// Keys are per tenant: another tenant's identical key is its own request.
		b := be.call(t, "tenant-b", "user-2", "POST", "/v1/webhooks", body, h)
		if b.status != 201 || b.json(t)["id"] == first.json(t)["id"] {
			t.Fatalf("tenant-b with the same key: %d %s", b.status, b.body)
		}
	})
}

// A replayed create shows the secret it created to the user who created it, and to nobody
// else, and only while it is still the webhook's secret; no stored record holds a secret.
func TestIdempotentReplaysNeverLeakASecret(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		body := []byte(`{"project_hash":"p","stage_uuid":"s","stage_type":"annotate","url":"https://8.8.8.8/replay"}`)
		h := http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"replay-1"}}
		first := be.call(t, "tenant-a", "alice", "POST", "/v1/webhooks", body, h)
		secret, _ := first.json(t)["secret"].(string)
		if first.status != 201 || !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("create: %d %s", first.status, first.body)
		}
		id := first.json(t)["id"].(string)

		again := be.call(t, "tenant-a", "alice", "POST", "/v1/webhooks", body, h)
		if again.status != 201 || again.json(t)["secret"] != secret || again.json(t)["id"] != id || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("alice's replay: %d %s; want her webhook with its secret", again.status, again.body)
		}
		for _, rec := range be.idempotencyRecords(t) {
			if strings.Contains(rec, secret) || strings.Contains(rec, "whsec_") {
				t.Fatalf("an Idempotency-Key record holds a signing secret: %s", rec)
			}
		}

		// Bob, in the same tenant, sends the same key and body: his own request, his own webhook.
		bob := be.call(t, "tenant-a", "bob", "POST", "/v1/webhooks", []byte(strings.Replace(string(body), "replay", "replay-bob", 1)), h)
		if bob.status != 201 || bob.json(t)["id"] == id || bob.json(t)["secret"] == secret || bob.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("bob with alice's key: %d %s; want a webhook of his own", bob.status, bob.body)
		}

		// After a rotation the old secret is not shown again, nor the new one.
		if res := be.call(t, "tenant-a", "alice", "POST", "/v1/webhooks/"+id+"/rotate-secret", nil, nil); res.status != 200 {
			t.Fatalf("rotate: %d %s", res.status, res.body)
		}
		rotated := be.call(t, "tenant-a", "alice", "POST", "/v1/webhooks", body, h)
		if rotated.status != 409 || !strings.Contains(string(rotated.body), "idempotency-secret-unavailable") || strings.Contains(string(rotated.body), "whsec_") {
			t.Fatalf("replay after rotation: %d %s; want 409 without a secret", rotated.status, rotated.body)
		}

		// After a delete, neither.
		h2 := http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"replay-2"}}
		body2 := []byte(strings.Replace(string(body), "replay", "replay-2", 1))
		created := be.call(t, "tenant-a", "alice", "POST", "/v1/webhooks", body2, h2)
		if created.status != 201 {
			t.Fatalf("create: %d %s", created.status, created.body)
		}
		if res := be.call(t, "tenant-a", "alice", "DELETE", "/v1/webhooks/"+created.json(t)["id"].(string), nil, nil); res.status != 204 {
			t.Fatalf("delete: %d %s", res.status, res.body)
		}
		deleted := be.call(t, "tenant-a", "alice", "POST", "/v1/webhooks", body2, h2)
		if deleted.status != 409 || strings.Contains(string(deleted.body), "whsec_") {
			t.Fatalf("replay after delete: %d %s; want 409 without a secret", deleted.status, deleted.body)
		}

		// A notification's webhooks are created with their secrets too.
		nbody := []byte(`{"title":"Replay","projects":["p"],"channels":{"webhooks":[{"url":"https://8.8.8.8/n1"},{"url":"https://8.8.8.8/n2"}]},"triggers":{"events":["task_submitted"]}}`)
		nh := http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"replay-n"}}
		n1 := be.call(t, "tenant-a", "alice", "POST", "/v1/notifications", nbody, nh)
		n2 := be.call(t, "tenant-a", "alice", "POST", "/v1/notifications", nbody, nh)
		if n1.status != 201 || n2.status != 201 || string(n1.body) != string(n2.body) || strings.Count(string(n2.body), "whsec_") != 2 {
			t.Fatalf("notification create then replay:\n%d %s\n%d %s", n1.status, n1.body, n2.status, n2.body)
		}
		for _, rec := range be.idempotencyRecords(t) {
			if strings.Contains(rec, "whsec_") {
				t.Fatalf("an Idempotency-Key record holds a signing secret: %s", rec)
			}
		}
	})
}

func TestListPagesWithCursors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		want := map[string]bool{}
		for i := range 7 {
			want[create(t, be, "tenant-a", fmt.Sprintf("stage-%d", i), fmt.Sprintf("https://8.8.8.8/p/%d", i))["id"].(string)] = true
		}
		seen := map[string]bool{}
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging never ends")
			}
			res := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks?limit=3&cursor="+cursor, nil, nil)
			if res.status != 200 {
				t.Fatalf("page: %d %s", res.status, res.body)
			}
			m := res.json(t)
			for _, it := range m["items"].([]any) {
				id := it.(map[string]any)["id"].(string)
				if seen[id] {
					t.Fatalf("%s listed twice", id)
				}
				seen[id] = true
			}
			next, _ := m["next_cursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		if len(seen) != len(want) {
			t.Fatalf("paged %d webhooks, created %d", len(seen), len(want))
		}
	})
}
