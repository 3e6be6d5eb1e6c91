package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestConsoleSignIn: a sign-in link's code gives an API key once; the key is the tenant's and
// user's, as GET /v1/me says; a used, unknown or missing code is refused. On AWS the console
// signs in through OIDC and the route says so.
func TestConsoleSignIn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		if me := be.call(t, "tenant-a", "user-1", "GET", "/v1/me", nil, nil); me.status != http.StatusOK ||
			!strings.Contains(string(me.body), `"tenant_id":"tenant-a"`) || !strings.Contains(string(me.body), `"user_id":"user-1"`) {
			t.Fatalf("me: %d %s", me.status, me.body)
		}
		if me := be.call(t, "", "", "GET", "/v1/me", nil, nil); me.status != http.StatusUnauthorized {
			t.Fatalf("me without credentials: %d %s", me.status, me.body)
		}
		redeem := func(code string) response {
			body, _ := json.Marshal(map[string]string{"code": code})
			return be.call(t, "", "", "POST", "/v1/console/sign-in", body, http.Header{"Content-Type": {"application/json"}})
		}
		if be.signInCode == nil {
			if res := redeem("anything"); res.status != http.StatusServiceUnavailable {
				t.Fatalf("sign-in on AWS: %d %s", res.status, res.body)
			}
			return
		}
		code := be.signInCode(t, "tenant-b", "bea")
		res := redeem(code)
		var out map[string]string
		if err := json.Unmarshal(res.body, &out); err != nil || res.status != http.StatusOK || res.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("redeem: %d %s %v", res.status, res.body, err)
		}
		if out["tenant_id"] != "tenant-b" || out["user_id"] != "bea" || !strings.HasPrefix(out["api_key"], "hk_") {
			t.Fatalf("signed in as %v", out)
		}
		// The key is tenant-b's: it reads who it is, and none of tenant-a's notifications.
		createNotification(t, be, "tenant-a", "user-1", `{"title":"A's","projects":["p1"],"channels":{"emails":["a@example.com"]},"triggers":{"events":["task_submitted"]}}`)
		withKey := func(path string) (int, string) {
			req, _ := http.NewRequest("GET", be.baseURL+path, nil)
			req.Header.Set("Authorization", "Bearer "+out["api_key"])
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			b, _ := io.ReadAll(r.Body)
			return r.StatusCode, string(b)
		}
		if status, body := withKey("/v1/me"); status != 200 || !strings.Contains(body, `"tenant_id":"tenant-b"`) {
			t.Fatalf("me with the console's key: %d %s", status, body)
		}
		if status, body := withKey("/v1/notifications"); status != 200 || !bytes.Contains([]byte(body), []byte(`"items":[]`)) {
			t.Fatalf("tenant-b's notifications: %d %s", status, body)
		}
		for name, again := range map[string]string{"used": code, "unknown": strings.Repeat("x", 43)} {
			if res := redeem(again); res.status != http.StatusUnauthorized || !strings.Contains(string(res.body), "go run ./infra/herald signin-link") {
				t.Errorf("%s code: %d %s", name, res.status, res.body)
			}
		}
		if res := redeem(""); res.status != http.StatusUnprocessableEntity || !strings.Contains(string(res.body), `"field":"code"`) {
			t.Errorf("no code: %d %s", res.status, res.body)
		}
	})
}
