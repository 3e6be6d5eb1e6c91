package slackstandin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/heraldhq/herald/tests/slackstandin"
)

// These tests speak raw HTTP, as Slack's documentation describes the wire, so the stand-in
// cannot drift towards whatever slack-go happens to accept.

func exchange(t *testing.T, s *slackstandin.Server, form url.Values, basic ...string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.APIURL()+"oauth.v2.access", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("oauth.v2.access answered %s %s; Slack answers 200 JSON, errors included", resp.Status, resp.Header.Get("Content-Type"))
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func TestOAuthV2AccessSpeaksSlacksShape(t *testing.T) {
	t.Parallel()
	s := slackstandin.New(t, slackstandin.Config{ClientID: "111.222", ClientSecret: "shh", RedirectURL: "https://app.example/cb"})
	g := slackstandin.Grant{TeamID: "T1", TeamName: "Acme", ChannelID: "C1", ChannelName: "#alerts", RedirectURI: "https://app.example/cb"}
	code := s.IssueCode(g)
	form := url.Values{"client_id": {"111.222"}, "client_secret": {"shh"}, "code": {code}, "redirect_uri": {"https://app.example/cb"}}
	out := exchange(t, s, form)
	if got := keys(out); got != "access_token,app_id,authed_user,bot_user_id,enterprise,incoming_webhook,is_enterprise_install,ok,scope,team,token_type" {
		t.Fatalf("answer keys %s", got)
	}
	hook := out["incoming_webhook"].(map[string]any)
	if keys(hook) != "channel,channel_id,configuration_url,url" || hook["channel"] != "#alerts" || hook["channel_id"] != "C1" ||
		!strings.HasPrefix(hook["url"].(string), s.WebhookPrefix()+"T1/B") {
		t.Fatalf("incoming_webhook %v", hook)
	}
	if team := out["team"].(map[string]any); team["id"] != "T1" || team["name"] != "Acme" || out["ok"] != true || out["scope"] != "incoming-webhook" {
		t.Fatalf("answer %v", out)
	}

	if out := exchange(t, s, form); out["ok"] != false || out["error"] != "invalid_code" {
		t.Fatalf("reused code: %v, want invalid_code", out)
	}
	for name, tc := range map[string]struct {
		form  url.Values
		basic []string
		want  string
	}{
		"unknown client": {url.Values{"client_id": {"9"}, "client_secret": {"shh"}, "code": {s.IssueCode(g)}}, nil, "invalid_client_id"},
		"wrong secret":   {url.Values{"client_id": {"111.222"}, "client_secret": {"no"}, "code": {s.IssueCode(g)}}, nil, "bad_client_secret"},
		"other redirect": {url.Values{"client_id": {"111.222"}, "client_secret": {"shh"}, "code": {s.IssueCode(g)}, "redirect_uri": {"https://evil.example/cb"}}, nil, "bad_redirect_uri"},
		"unknown code":   {url.Values{"client_id": {"111.222"}, "client_secret": {"shh"}, "code": {"nope"}}, nil, "invalid_code"},
		"basic auth":     {url.Values{"code": {s.IssueCode(g)}, "redirect_uri": {"https://app.example/cb"}}, []string{"111.222", "shh"}, ""},
	} {
		out := exchange(t, s, tc.form, tc.basic...)
		if tc.want == "" && out["ok"] != true || tc.want != "" && (out["ok"] != false || out["error"] != tc.want) {
			t.Errorf("%s: %v, want %q", name, out, tc.want)
		}
	}
}

func TestIncomingWebhookAnswersLikeSlack(t *testing.T) {
	t.Parallel()
	s := slackstandin.New(t, slackstandin.Config{ClientID: "1", ClientSecret: "2"})
	out := exchange(t, s, url.Values{"client_id": {"1"}, "client_secret": {"2"}, "code": {s.IssueCode(slackstandin.Grant{TeamID: "T1", ChannelID: "C1"})}})
	hook := out["incoming_webhook"].(map[string]any)["url"].(string)
	post := func(url, body string) (int, string) {
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, url, body string
		status          int
		answer          string
	}{
		{"text", hook, `{"text":"hi"}`, 200, "ok"},
		{"no text", hook, `{"blocks":[]}`, 400, "no_text"},
		{"not JSON", hook, `text=hi`, 400, "invalid_payload"},
		{"unknown webhook", s.WebhookPrefix() + "T1/B0/x", `{"text":"hi"}`, 404, "no_service"},
	} {
		if status, answer := post(tc.url, tc.body); status != tc.status || answer != tc.answer {
			t.Errorf("%s: %d %q, want %d %q", tc.name, status, answer, tc.status, tc.answer)
		}
	}
	if msgs := s.Messages("C1"); len(msgs) != 1 || msgs[0].Text != "hi" || string(msgs[0].Body) != `{"text":"hi"}` {
		t.Fatalf("recorded %+v", msgs)
	}
	s.Revoke("C1")
	if status, answer := post(hook, `{"text":"hi"}`); status != 404 || answer != "channel_not_found" {
		t.Fatalf("revoked: %d %q", status, answer)
	}
	s.Archive("C1")
	if status, answer := post(hook, `{"text":"hi"}`); status != 410 || answer != "channel_is_archived" {
		t.Fatalf("archived: %d %q", status, answer)
	}
	s.Restore("C1")
	if status, _ := post(hook, `{"text":"again"}`); status != 200 || len(s.Messages("C1")) != 2 {
		t.Fatalf("restored: %d, %d messages", status, len(s.Messages("C1")))
	}
}
