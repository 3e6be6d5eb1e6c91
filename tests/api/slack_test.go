package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/httpapi"
	"github.com/heraldhq/herald/infra/localrun"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/tests/slackstandin"
)

var alertsGrant = slackstandin.Grant{TeamID: "T0ACME", TeamName: "Acme", ChannelID: "C0ALERTS", ChannelName: "#alerts", UserID: "U0ALICE"}

// slackStart asks the API where to send the user to add a channel.
func slackStart(t *testing.T, call func(method, path string) response) string {
	t.Helper()
	res := call("GET", "/v1/slack/oauth/start")
	target, _ := res.json(t)["url"].(string)
	if res.status != http.StatusOK || target == "" {
		t.Fatalf("start: %d %s", res.status, res.body)
	}
	return target
}

// consent visits Slack's consent page as the user's browser does and returns the query of
// the redirect back to the app: code and state, or error and state.
func consent(t *testing.T, target string) url.Values {
	t.Helper()
	res, err := noRedirects.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusFound {
		t.Fatalf("consent page: %d %s", res.StatusCode, body)
	}
	back, err := url.Parse(res.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), slackRedirectURL) {
		t.Fatalf("consent page redirects to %q, want the app's redirect URL", res.Header.Get("Location"))
	}
	return back.Query()
}

// connectViaSlack runs the whole "Add to Slack" flow for user and returns the callback's answer.
func connectViaSlack(t *testing.T, be backend, tenant, user string, g slackstandin.Grant) response {
	t.Helper()
	be.slack.Choose(g)
	q := consent(t, slackStart(t, func(method, path string) response { return be.call(t, tenant, user, method, path, nil, nil) }))
	return be.call(t, tenant, user, "GET", "/v1/slack/oauth/callback?"+q.Encode(), nil, nil)
}

func problemType(t *testing.T, res response) string {
	t.Helper()
	typ, _ := res.json(t)["type"].(string)
	return strings.TrimPrefix(typ, "https://herald.dev/problems/")
}

// TestSlackChannelFlow: a user adds a channel with "Add to Slack" (start, Slack's consent
// page, callback), sees it listed without its webhook URL, uses it in a notification; another
// user can neither use, see nor delete it; forged, cancelled and replayed callbacks connect
// nothing; the owner deletes it.
func TestSlackChannelFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		start := slackStart(t, func(method, path string) response { return be.call(t, "tenant-a", "user-1", method, path, nil, nil) })
		u, _ := url.Parse(start)
		if !strings.HasPrefix(start, be.slack.AuthorizeURL()+"?") || u.Query().Get("client_id") != slackClientID ||
			u.Query().Get("scope") != "incoming-webhook" || u.Query().Get("redirect_uri") != slackRedirectURL || u.Query().Get("state") == "" {
			t.Fatalf("start URL %s", start)
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/slack/oauth/start?redirect=1", nil, nil); res.status != http.StatusFound ||
			!strings.HasPrefix(res.header.Get("Location"), be.slack.AuthorizeURL()+"?") {
			t.Fatalf("start with redirect=1: %d %v", res.status, res.header)
		}

		res := connectViaSlack(t, be, "tenant-a", "user-1", alertsGrant)
		if res.status != http.StatusCreated {
			t.Fatalf("callback: %d %s", res.status, res.body)
		}
		ch := res.json(t)
		id, _ := ch["id"].(string)
		if !strings.HasPrefix(id, "slk_") || ch["team_id"] != "T0ACME" || ch["team_name"] != "Acme" || ch["channel_id"] != "C0ALERTS" ||
			ch["channel_name"] != "#alerts" || ch["owner_id"] != "user-1" {
			t.Fatalf("connected %s", res.body)
		}
		list := be.call(t, "tenant-a", "user-1", "GET", "/v1/slack/channels", nil, nil)
		if got := items(t, list); len(got) != 1 || got[0]["id"] != id {
			t.Fatalf("list: %s", list.body)
		}
		for _, r := range []response{res, list} {
			if strings.Contains(string(r.body), be.slack.WebhookPrefix()) || strings.Contains(string(r.body), "/services/") {
				t.Fatalf("the API shows a channel's incoming-webhook URL: %s", r.body)
			}
		}
		// Connecting the same channel again replaces it under the same id.
		if again := connectViaSlack(t, be, "tenant-a", "user-1", alertsGrant); again.status != http.StatusCreated || again.json(t)["id"] != id {
			t.Fatalf("reconnect: %d %s", again.status, again.body)
		}
		if got := items(t, be.call(t, "tenant-a", "user-1", "GET", "/v1/slack/channels", nil, nil)); len(got) != 1 {
			t.Fatalf("reconnecting listed %d channels", len(got))
		}

		body := `{"title":"Rejections to Slack","projects":["p"],"channels":{"slack_channels":["` + id + `"]},"triggers":{"events":["label_rejected"]}}`
		n := createNotification(t, be, "tenant-a", "user-1", body)
		if !strings.Contains(string(mustJSON(t, n)), id) {
			t.Fatalf("notification %v does not name the channel", n)
		}
		if res := be.call(t, "tenant-a", "user-2", "POST", "/v1/notifications", []byte(body), jsonHeader); res.status != 422 ||
			!strings.Contains(string(res.body), `"field":"channels.slack_channels[0]"`) {
			t.Errorf("user-2 using user-1's channel: %d %s", res.status, res.body)
		}
		if got := items(t, be.call(t, "tenant-a", "user-2", "GET", "/v1/slack/channels", nil, nil)); len(got) != 0 {
			t.Errorf("user-2 lists user-1's channels: %v", got)
		}
		for _, who := range [][2]string{{"tenant-a", "user-2"}, {"tenant-b", "user-1"}} {
			if res := be.call(t, who[0], who[1], "DELETE", "/v1/slack/channels/"+id, nil, nil); res.status != http.StatusNotFound {
				t.Errorf("%s/%s deleting user-1's channel: %d %s", who[0], who[1], res.status, res.body)
			}
		}
		if got := items(t, be.call(t, "tenant-b", "user-1", "GET", "/v1/slack/channels", nil, nil)); len(got) != 0 {
			t.Errorf("the same user id in tenant-b lists tenant-a's channels: %v", got)
		}

		// A callback carrying a state made for someone else is refused before Slack is asked,
		// so the code stays unspent.
		be.slack.Choose(slackstandin.Grant{TeamID: "T0EVIL", TeamName: "Evil", ChannelID: "C0TRAP", ChannelName: "#trap"})
		forged := consent(t, slackStart(t, func(method, path string) response { return be.call(t, "tenant-a", "user-1", method, path, nil, nil) }))
		exchanges := be.slack.Exchanges()
		for _, c := range []struct {
			name, tenant, user string
			query              url.Values
		}{
			{"another user's state", "tenant-a", "user-2", forged},
			{"another tenant's state", "tenant-b", "user-1", forged},
			{"an altered state", "tenant-a", "user-1", url.Values{"code": {forged.Get("code")}, "state": {forged.Get("state") + "x"}}},
			{"no state", "tenant-a", "user-1", url.Values{"code": {forged.Get("code")}}},
		} {
			res := be.call(t, c.tenant, c.user, "GET", "/v1/slack/oauth/callback?"+c.query.Encode(), nil, nil)
			if res.status != http.StatusBadRequest || problemType(t, res) != "invalid-state" {
				t.Errorf("callback with %s: %d %s, want 400 invalid-state", c.name, res.status, res.body)
			}
		}
		if be.slack.Exchanges() != exchanges {
			t.Errorf("refused callbacks called Slack %d times", be.slack.Exchanges()-exchanges)
		}

		// The rightful user can still use the unspent code; a replay of it is refused by Slack.
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/slack/oauth/callback?"+forged.Encode(), nil, nil); res.status != http.StatusCreated {
			t.Fatalf("callback: %d %s", res.status, res.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/slack/oauth/callback?"+forged.Encode(), nil, nil); res.status != http.StatusBadRequest ||
			problemType(t, res) != "slack-exchange-failed" {
			t.Errorf("replayed code: %d %s", res.status, res.body)
		}

		be.slack.Cancel()
		denied := consent(t, slackStart(t, func(method, path string) response { return be.call(t, "tenant-a", "user-1", method, path, nil, nil) }))
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/slack/oauth/callback?"+denied.Encode(), nil, nil); res.status != http.StatusBadRequest ||
			problemType(t, res) != "slack-denied" {
			t.Errorf("cancelled consent: %d %s", res.status, res.body)
		}
		if got := items(t, be.call(t, "tenant-a", "user-1", "GET", "/v1/slack/channels", nil, nil)); len(got) != 2 {
			t.Errorf("user-1 has %d channels, want #alerts and #trap", len(got))
		}

		if res := be.call(t, "tenant-a", "user-1", "DELETE", "/v1/slack/channels/"+id, nil, nil); res.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", res.status, res.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "DELETE", "/v1/slack/channels/"+id, nil, nil); res.status != http.StatusNotFound {
			t.Errorf("delete again: %d %s", res.status, res.body)
		}
		for _, it := range items(t, be.call(t, "tenant-a", "user-1", "GET", "/v1/slack/channels", nil, nil)) {
			if it["id"] == id {
				t.Errorf("deleted channel still listed")
			}
		}
		// A deleted channel cannot be added to a notification any more.
		if res := be.call(t, "tenant-a", "user-1", "POST", "/v1/notifications", []byte(body), jsonHeader); res.status != 422 {
			t.Errorf("notification with a deleted channel: %d %s", res.status, res.body)
		}
	})
}

func TestSlackNotConfigured(t *testing.T) {
	forEachBackendWith(t, backendOptions{slack: "none"}, func(t *testing.T, be backend) {
		for _, path := range []string{"/v1/slack/oauth/start", "/v1/slack/oauth/callback?code=c&state=s"} {
			res := be.call(t, "tenant-a", "user-1", "GET", path, nil, nil)
			if res.status != http.StatusServiceUnavailable || problemType(t, res) != "slack-not-configured" {
				t.Errorf("%s: %d %s, want 503 slack-not-configured", path, res.status, res.body)
			}
		}
		// Channels connected before are still shown, and can be removed.
		id := connectChannel(t, be, "tenant-a", "user-1", "C0OLD")
		if got := items(t, be.call(t, "tenant-a", "user-1", "GET", "/v1/slack/channels", nil, nil)); len(got) != 1 || got[0]["id"] != id {
			t.Errorf("list: %v", got)
		}
		if res := be.call(t, "tenant-a", "user-1", "DELETE", "/v1/slack/channels/"+id, nil, nil); res.status != http.StatusNoContent {
			t.Errorf("delete: %d %s", res.status, res.body)
		}
	})
}

func TestSlackUnreachableIsABadGateway(t *testing.T) {
	forEachBackendWith(t, backendOptions{slack: "unreachable"}, func(t *testing.T, be backend) {
		res := connectViaSlack(t, be, "tenant-a", "user-1", alertsGrant)
		if res.status != http.StatusBadGateway || problemType(t, res) != "slack-unavailable" {
			t.Fatalf("callback with Slack unreachable: %d %s, want 502 slack-unavailable", res.status, res.body)
		}
		if strings.Contains(string(res.body), slackClientSecret) || strings.Contains(string(res.body), "127.0.0.1:1") {
			t.Fatalf("the problem reveals internals: %s", res.body)
		}
	})
}

// TestSlackOnTheEmbeddedRunner: the single-machine runner wires the Slack app it is given
// (here with no state key, so it makes one) into the API it serves.
func TestSlackOnTheEmbeddedRunner(t *testing.T) {
	tmpl, err := samtemplate.LoadRoot()
	if err != nil {
		t.Fatal(err)
	}
	standin := newSlackStandin(t)
	slackCfg := slackConfig(standin, backendOptions{})
	slackCfg.StateKey = ""
	h, err := localrun.Start(context.Background(), localrun.Config{
		DataDir: t.TempDir(), Template: tmpl, EventsAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0",
		AllowLoopback: true, Synchronous: "NORMAL", Pollers: 1, Slack: slackCfg, Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	plaintext, key, err := httpapi.NewAPIKey("tenant-a", "user-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.APIKeys.CreateAPIKey(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	call := func(method, path string) response {
		t.Helper()
		req, err := http.NewRequest(method, h.APIURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+plaintext)
		res, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return response{status: res.StatusCode, header: res.Header, body: b}
	}
	standin.Choose(alertsGrant)
	q := consent(t, slackStart(t, call))
	if res := call("GET", "/v1/slack/oauth/callback?"+q.Encode()); res.status != http.StatusCreated || res.json(t)["channel_id"] != "C0ALERTS" {
		t.Fatalf("callback: %d %s", res.status, res.body)
	}
	list := call("GET", "/v1/slack/channels")
	got := items(t, list)
	if len(got) != 1 || strings.Contains(string(list.body), "/services/") {
		t.Fatalf("list: %s", list.body)
	}
	if res := call("DELETE", "/v1/slack/channels/"+got[0]["id"].(string)); res.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.status, res.body)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
