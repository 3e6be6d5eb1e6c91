package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/httpapi"
)

// FuzzRequestBodies sends the API's writing routes any body: each answers a documented
// client error or success, as JSON, never a panic or a 5xx. It runs the handler in process
// over the embedded stores, so that a million bodies take minutes.
func FuzzRequestBodies(f *testing.F) {
	ctx := context.Background()
	e := newEmbeddedStores(f)
	api := httpapi.New(e.deps)
	plaintext, key, err := httpapi.NewAPIKey("acme", "alice", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	if err := e.keys.CreateAPIKey(ctx, key); err != nil {
		f.Fatal(err)
	}
	call := func(method, path string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+plaintext)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		return rec
	}
	// One notification and one stage webhook that the PATCH routes change.
	created := call("POST", "/v1/notifications", []byte(`{"title":"Fuzz","projects":["p1"],"channels":{"emails":["a@example.com"]},"triggers":{"events":["task_submitted"]}}`))
	var n struct{ ID string }
	if err := json.Unmarshal(created.Body.Bytes(), &n); err != nil || created.Code != http.StatusCreated {
		f.Fatalf("create a notification: %d %s", created.Code, created.Body)
	}
	routes := []struct{ method, path string }{
		{"POST", "/v1/notifications"},
		{"PATCH", "/v1/notifications/" + n.ID},
		{"POST", "/v1/webhooks"},
		{"POST", "/v1/console/sign-in"},
		{"POST", "/v1/webhooks/wh_none/recover"},
		{"GET", "/v1/notifications?title="},
	}
	f.Add(0, []byte(`{"title":"QA","projects":["p1"],"channels":{"emails":["qa@example.com"],"webhooks":[{"url":"https://8.8.8.8/h"}]},"triggers":{"events":["label_rejected"],"digests":[{"times_of_day":["09:00"],"time_zone":"Europe/London","period":"7d"}]}}`))
	f.Add(1, []byte(`{"title":"","channels":{"slack_channels":["slk_x"]}}`))
	f.Add(2, []byte(`{"project_hash":"p1","stage_uuid":"s1","stage_type":"annotate","url":"https://8.8.8.8/x"}`))
	f.Add(3, []byte(`{"code":"x"}`))
	f.Add(4, []byte(`{"since":"2026-01-01T00:00:00Z","limit":5}`))
	f.Add(5, []byte(`QA%20alerts`))
	f.Fuzz(func(t *testing.T, which int, body []byte) {
		if which < 0 {
			which = -which
		}
		rt := routes[which%len(routes)]
		path := rt.path
		if rt.method == "GET" {
			path += url.QueryEscape(string(body))
			body = nil
		}
		rec := call(rt.method, path, body)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: %d %s", rt.method, path, body, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, "json") || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s with %q: %d answered %q: %s", rt.method, path, body, rec.Code, ct, rec.Body)
		}
	})
}
