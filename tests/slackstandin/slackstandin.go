// Package slackstandin is a local stand-in for the parts of Slack that Herald talks to, on
// 127.0.0.1 (Slack itself is not reachable from tests):
//
//   - the "Add to Slack" consent page (GET /oauth/v2/authorize), which redirects back to the
//     app with a code, or with error=access_denied when the user cancels;
//   - the Web API method oauth.v2.access (POST /api/oauth.v2.access), which exchanges that
//     code for an incoming webhook;
//   - the incoming webhooks it hands out (POST /services/<team>/<bot>/<token>), which record
//     what they receive.
//
// Responses follow Slack's documentation: Web API methods answer HTTP 200 with
// {"ok":false,"error":"<code>"} on failure (https://docs.slack.dev/apis/web-api/#responses);
// oauth.v2.access answers ok, access_token, token_type, scope, bot_user_id, app_id, team,
// enterprise, authed_user and, for the incoming-webhook scope, incoming_webhook with
// channel, channel_id, configuration_url and url
// (https://docs.slack.dev/reference/methods/oauth.v2.access); codes are single-use and expire
// after ten minutes. Incoming webhooks answer 200 "ok", or a status with a plain-text code:
// 400 invalid_payload or no_text, 403 action_prohibited, 404 channel_not_found, 410
// channel_is_archived, 500 rollup_error (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks),
// and 429 with Retry-After when rate-limited (https://docs.slack.dev/apis/web-api/rate-limits).
package slackstandin

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Config is the Slack app the stand-in knows.
type Config struct {
	ClientID     string
	ClientSecret string
	// RedirectURL is the app's registered redirect URL: the consent page refuses any other.
	RedirectURL string
	// Now is the stand-in's clock (codes expire ten minutes after issue); nil means time.Now.
	Now func() time.Time
}

// CodeTTL is how long a code is valid: Slack's codes expire after ten minutes.
const CodeTTL = 10 * time.Minute

// Grant is what the user chose on the consent page: the workspace, the channel the incoming
// webhook posts to, and who they are in Slack.
type Grant struct {
	TeamID, TeamName       string
	ChannelID, ChannelName string // ChannelName as Slack returns it, e.g. "#alerts"
	UserID                 string // the Slack user who installed; default U0STANDIN
	// RedirectURI is the redirect_uri of the authorize request; when set, the exchange must
	// send the same one (Slack's rule), otherwise it answers bad_redirect_uri.
	RedirectURI string
}

// Message is one POST an incoming webhook received.
type Message struct {
	ContentType string
	Body        []byte // byte for byte, for golden comparisons
	Text        string
	Blocks      json.RawMessage
}

type code struct {
	grant  Grant
	issued time.Time
}

type webhook struct {
	teamID, channelID string
}

type failure struct {
	status     int
	body       string
	retryAfter string
}

// Server is a running stand-in. Its methods are safe for concurrent use.
type Server struct {
	// URL is the stand-in's base URL, e.g. http://127.0.0.1:40123.
	URL string

	cfg Config
	srv *httptest.Server

	mu        sync.Mutex
	codes     map[string]code
	webhooks  map[string]webhook // by path /services/...
	messages  map[string][]Message
	failures  map[string]failure // by channel id
	consent   *Grant
	exchanges int
}

// New starts a stand-in for the app cfg and stops it when the test ends.
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg: cfg, codes: map[string]code{}, webhooks: map[string]webhook{},
		messages: map[string][]Message{}, failures: map[string]failure{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/v2/authorize", s.authorize)
	mux.HandleFunc("/api/oauth.v2.access", s.access)
	mux.HandleFunc("/services/", s.incomingWebhook)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// APIURL is the Web API base URL, with the trailing slash slack-go expects (its default is
// https://slack.com/api/).
func (s *Server) APIURL() string { return s.URL + "/api/" }

// AuthorizeURL is the consent page, the stand-in for https://slack.com/oauth/v2/authorize.
func (s *Server) AuthorizeURL() string { return s.URL + "/oauth/v2/authorize" }

// WebhookPrefix is what every incoming-webhook URL of this stand-in starts with, the
// stand-in for https://hooks.slack.com/services/.
func (s *Server) WebhookPrefix() string { return s.URL + "/services/" }

// Choose makes the next visits to the consent page approve g, as a user picking a workspace
// and channel and clicking Allow.
func (s *Server) Choose(g Grant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consent = &g
}

// Cancel makes the next visits to the consent page redirect with error=access_denied, as a
// user clicking Cancel. It is also what happens before any Choose.
func (s *Server) Cancel() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consent = nil
}

// IssueCode returns a fresh code for g, as the consent page would put in its redirect.
func (s *Server) IssueCode(g Grant) string {
	c := "standin-" + random(18)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[c] = code{grant: g, issued: s.cfg.Now()}
	return c
}

// Exchanges counts the oauth.v2.access calls received.
func (s *Server) Exchanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchanges
}

// Messages returns what the incoming webhooks of a Slack channel received, oldest first.
func (s *Server) Messages(channelID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages[channelID])
}

// Revoke makes the channel's incoming webhooks answer 404 channel_not_found, as after the
// channel is deleted or the app removed from it.
func (s *Server) Revoke(channelID string) {
	s.Fail(channelID, http.StatusNotFound, "channel_not_found")
}

// Archive makes the channel's incoming webhooks answer 410 channel_is_archived.
func (s *Server) Archive(channelID string) {
	s.Fail(channelID, http.StatusGone, "channel_is_archived")
}

// Throttle makes the channel's incoming webhooks answer 429 with the given Retry-After
// header (none when empty).
func (s *Server) Throttle(channelID, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[channelID] = failure{status: http.StatusTooManyRequests, body: "rate_limited", retryAfter: retryAfter}
}

// Fail makes the channel's incoming webhooks answer status with the plain-text body.
func (s *Server) Fail(channelID string, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[channelID] = failure{status: status, body: body}
}

// Restore makes the channel's incoming webhooks accept messages again.
func (s *Server) Restore(channelID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, channelID)
}

// authorize is the consent page. Slack shows errors about the app itself (unknown client,
// redirect URL not registered) on its own page; only the user's answer goes back to the app.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if q.Get("client_id") != s.cfg.ClientID {
		http.Error(w, "invalid_client_id", http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		redirect = s.cfg.RedirectURL
	}
	if redirect != s.cfg.RedirectURL {
		http.Error(w, "bad_redirect_uri", http.StatusBadRequest)
		return
	}
	if !slices.Contains(strings.Split(q.Get("scope"), ","), "incoming-webhook") {
		http.Error(w, "invalid_scope: this stand-in only grants incoming-webhook", http.StatusBadRequest)
		return
	}
	back, err := url.Parse(redirect)
	if err != nil {
		http.Error(w, "bad_redirect_uri", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	consent := s.consent
	s.mu.Unlock()
	answer := back.Query()
	if consent == nil {
		answer.Set("error", "access_denied")
	} else {
		g := *consent
		if q.Has("redirect_uri") {
			g.RedirectURI = redirect
		}
		answer.Set("code", s.IssueCode(g))
	}
	if q.Has("state") {
		answer.Set("state", q.Get("state"))
	}
	back.RawQuery = answer.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// access is oauth.v2.access. Slack accepts the client credentials as HTTP Basic auth or as
// form fields; slack-go sends form fields.
func (s *Server) access(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_request"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_form_data"})
		return
	}
	clientID, secret, basic := r.BasicAuth()
	if !basic {
		clientID, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exchanges++
	switch {
	case clientID == "":
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_arguments"})
		return
	case clientID != s.cfg.ClientID:
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_client_id"})
		return
	case secret != s.cfg.ClientSecret:
		writeJSON(w, map[string]any{"ok": false, "error": "bad_client_secret"})
		return
	}
	// A code is spent by its first exchange, whatever the outcome: a reused code is
	// invalid_code, like an unknown or expired one.
	c, ok := s.codes[r.PostForm.Get("code")]
	delete(s.codes, r.PostForm.Get("code"))
	if !ok || s.cfg.Now().Sub(c.issued) > CodeTTL {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_code"})
		return
	}
	if c.grant.RedirectURI != "" && r.PostForm.Get("redirect_uri") != c.grant.RedirectURI {
		writeJSON(w, map[string]any{"ok": false, "error": "bad_redirect_uri"})
		return
	}
	g := c.grant
	if g.UserID == "" {
		g.UserID = "U0STANDIN"
	}
	bot := "B" + strings.ToUpper(random(6))
	path := "/services/" + g.TeamID + "/" + bot + "/" + random(18)
	s.webhooks[path] = webhook{teamID: g.TeamID, channelID: g.ChannelID}
	writeJSON(w, map[string]any{
		"ok":           true,
		"app_id":       "A0STANDIN",
		"authed_user":  map[string]any{"id": g.UserID},
		"scope":        "incoming-webhook",
		"token_type":   "bot",
		"access_token": "xoxb-standin-" + random(12),
		"bot_user_id":  "U0STANDINBOT",
		"team":         map[string]any{"id": g.TeamID, "name": g.TeamName},
		"enterprise":   nil,
		"incoming_webhook": map[string]any{
			"channel":           g.ChannelName,
			"channel_id":        g.ChannelID,
			"configuration_url": s.URL + "/apps/config/" + bot,
			"url":               s.URL + path,
		},
		"is_enterprise_install": false,
	})
}

// maxWebhookBody is far above what a Slack message may hold (40,000 characters of text, 50
// blocks), so only a runaway test trips it.
const maxWebhookBody = 1 << 20

func (s *Server) incomingWebhook(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hook, ok := s.webhooks[r.URL.Path]
	f, failing := s.failures[hook.channelID]
	s.mu.Unlock()
	switch {
	case !ok:
		plain(w, http.StatusNotFound, "no_service")
		return
	case r.Method != http.MethodPost:
		plain(w, http.StatusMethodNotAllowed, "invalid_method")
		return
	case failing:
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		plain(w, f.status, f.body)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody))
	if err != nil {
		plain(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	var payload struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		plain(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	if payload.Text == "" && (len(payload.Blocks) == 0 || string(payload.Blocks) == "null" || string(payload.Blocks) == "[]") {
		plain(w, http.StatusBadRequest, "no_text")
		return
	}
	s.mu.Lock()
	s.messages[hook.channelID] = append(s.messages[hook.channelID], Message{
		ContentType: r.Header.Get("Content-Type"), Body: body, Text: payload.Text, Blocks: payload.Blocks,
	})
	s.mu.Unlock()
	plain(w, http.StatusOK, "ok")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// plain answers like Slack's incoming webhooks: a short code as text/html.
func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
