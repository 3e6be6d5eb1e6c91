package slackoauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/heraldhq/herald/infra/slackoauth"
	"github.com/heraldhq/herald/shared/outbound"
	"github.com/heraldhq/herald/shared/slack"
	"github.com/heraldhq/herald/tests/slackstandin"
)

const (
	clientID     = "1234.5678"
	clientSecret = "s3cr3t-client-secret-value"
	redirectURL  = "https://herald.example.com/slack/callback"
)

var stateKey = []byte("0123456789abcdef0123456789abcdef")

// clock is a settable time source shared by the flow and the stand-in.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	slack *slackstandin.Server
	flow  *slackoauth.Flow
	clock *clock
}

var alerts = slackstandin.Grant{TeamID: "T0ACME", TeamName: "Acme", ChannelID: "C0ALERTS", ChannelName: "#alerts", UserID: "U0ALICE"}

// newFixture runs a flow against a fresh stand-in, through the SSRF-safe client with only
// loopback opened (the stand-in listens on 127.0.0.1).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	c := &clock{now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	s := slackstandin.New(t, slackstandin.Config{ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL, Now: c.Now})
	flow, err := slackoauth.New(slackoauth.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL, StateKey: stateKey,
		AuthorizeURL: s.AuthorizeURL(), APIURL: s.APIURL(), WebhookURLPrefix: s.WebhookPrefix(),
		HTTPClient: outbound.NewClient(outbound.Options{AllowLoopback: true}), Now: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{slack: s, flow: flow, clock: c}
}

// state returns the state of a fresh StartURL for tenant and user.
func (f *fixture) state(t *testing.T, tenant, user string) string {
	t.Helper()
	start, err := f.flow.StartURL(tenant, user)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(start)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("state")
}

// consent follows StartURL to the stand-in's consent page, as the user's browser does, and
// returns the query of the redirect back to Herald.
func (f *fixture) consent(t *testing.T, start string) url.Values {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("consent page answered %s", resp.Status)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Scheme + "://" + back.Host + back.Path; got != redirectURL {
		t.Fatalf("redirected to %s, want %s", got, redirectURL)
	}
	return back.Query()
}

// noSecrets fails if err's text holds the client secret or any of the given secrets.
func noSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range append(secrets, clientSecret) {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains a secret", err)
		}
	}
}

func TestConnectAndPost(t *testing.T) {
	// A user clicks "Add to Slack", picks #alerts in Acme, comes back, and Herald posts there.
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	start, err := f.flow.StartURL("tenant-a", "user-1")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(start)
	q := u.Query()
	if got := u.Scheme + "://" + u.Host + u.Path; got != f.slack.AuthorizeURL() {
		t.Errorf("start URL %s, want the consent page", got)
	}
	if q.Get("client_id") != clientID || q.Get("scope") != "incoming-webhook" || q.Get("redirect_uri") != redirectURL || q.Get("state") == "" {
		t.Errorf("start URL query %v", q)
	}
	if strings.Contains(start, "tenant-a") || strings.Contains(start, "user-1") {
		t.Errorf("start URL %s shows the tenant or user to Slack", start)
	}

	f.slack.Choose(alerts)
	ch, err := f.flow.CallbackQuery(ctx, "tenant-a", "user-1", f.consent(t, start))
	if err != nil {
		t.Fatal(err)
	}
	want := slack.Channel{
		ID: slack.NewChannelID("tenant-a", "user-1", "T0ACME", "C0ALERTS"), TenantID: "tenant-a", OwnerID: "user-1",
		TeamID: "T0ACME", TeamName: "Acme", ChannelID: "C0ALERTS", ChannelName: "#alerts",
		WebhookURL: ch.WebhookURL, ConfigurationURL: ch.ConfigurationURL, CreatedAt: f.clock.Now(),
	}
	if ch != want {
		t.Fatalf("channel %+v\nwant    %+v", ch, want)
	}
	if !strings.HasPrefix(ch.WebhookURL, f.slack.WebhookPrefix()) || ch.ConfigurationURL == "" {
		t.Fatalf("webhook %q, configuration %q", ch.WebhookURL, ch.ConfigurationURL)
	}
	if err := ch.Validate(); err != nil {
		t.Fatal(err)
	}

	if err := f.flow.Post(ctx, ch, slackoauth.Message{Text: "Task 42 submitted"}); err != nil {
		t.Fatal(err)
	}
	got := f.slack.Messages("C0ALERTS")
	if len(got) != 1 || got[0].Text != "Task 42 submitted" || got[0].ContentType != "application/json" {
		t.Fatalf("Slack received %+v", got)
	}
}

func TestPostBodyIsGolden(t *testing.T) {
	// What leaves Herald for Slack, byte for byte: text as the notification fallback, blocks
	// for the message itself.
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ch, err := f.flow.Callback(ctx, "tenant-a", "user-1", f.slack.IssueCode(alerts), f.state(t, "tenant-a", "user-1"))
	if err != nil {
		t.Fatal(err)
	}
	msg := slackoauth.Message{
		Text: "Task 42 submitted on Annotate",
		Blocks: []slackgo.Block{
			slackgo.NewHeaderBlock(slackgo.NewTextBlockObject(slackgo.PlainTextType, "Task submitted", false, false)),
			slackgo.NewSectionBlock(slackgo.NewTextBlockObject(slackgo.MarkdownType, "*Task 42* was submitted on _Annotate_ by ann@example.com", false, false), nil, nil),
		},
	}
	if err := f.flow.Post(ctx, ch, msg); err != nil {
		t.Fatal(err)
	}
	got := f.slack.Messages("C0ALERTS")
	if len(got) != 1 {
		t.Fatalf("Slack received %d messages", len(got))
	}
	golden := "testdata/post_message.golden.json"
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, got[0].Body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0].Body) != string(want) {
		t.Fatalf("body\n%s\nwant (%s)\n%s", got[0].Body, golden, want)
	}
}

func TestCallbackRefusesBadState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good := f.state(t, "tenant-a", "user-1")
	payload, mac, _ := strings.Cut(good, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, tenant, user, state string
	}{
		{"missing", "tenant-a", "user-1", ""},
		{"forged", "tenant-a", "user-1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"garbage", "tenant-a", "user-1", "not-a-state"},
		{"nonce tampered", "tenant-a", "user-1", flip(payload, 0) + "." + mac},
		{"expiry tampered", "tenant-a", "user-1", flip(payload, len(payload)-2) + "." + mac},
		{"mac tampered", "tenant-a", "user-1", payload + "." + flip(mac, 3)},
		{"mac truncated", "tenant-a", "user-1", payload + "." + mac[:len(mac)-2]},
		{"other user", "tenant-a", "user-2", good},
		{"other tenant", "tenant-b", "user-1", good},
		{"user and tenant swapped", "user-1", "tenant-a", good},
	} {
		code := f.slack.IssueCode(alerts)
		_, err := f.flow.Callback(context.Background(), tc.tenant, tc.user, code, tc.state)
		if !errors.Is(err, slackoauth.ErrInvalidState) {
			t.Errorf("%s: error %v, want ErrInvalidState", tc.name, err)
		}
		noSecrets(t, err, code)
	}
	if n := f.slack.Exchanges(); n != 0 {
		t.Fatalf("%d exchanges reached Slack with a bad state, want none: the code must stay unspent", n)
	}
}

func TestStateExpiresAfterTenMinutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	state := f.state(t, "tenant-a", "user-1")
	f.clock.Advance(slackoauth.StateTTL - time.Second)
	if _, err := f.flow.Callback(ctx, "tenant-a", "user-1", f.slack.IssueCode(alerts), state); err != nil {
		t.Fatalf("state 9m59s old: %v", err)
	}
	f.clock.Advance(time.Second)
	_, err := f.flow.Callback(ctx, "tenant-a", "user-1", f.slack.IssueCode(alerts), state)
	if !errors.Is(err, slackoauth.ErrInvalidState) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("state 10m old: %v, want ErrInvalidState (expired)", err)
	}
}

func TestStatesAreUnique(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seen := map[string]bool{}
	for range 100 {
		s := f.state(t, "tenant-a", "user-1")
		if seen[s] {
			t.Fatalf("state %s issued twice", s)
		}
		seen[s] = true
	}
}

func TestUserCancels(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	start, err := f.flow.StartURL("tenant-a", "user-1")
	if err != nil {
		t.Fatal(err)
	}
	f.slack.Cancel()
	q := f.consent(t, start)
	if q.Get("error") != "access_denied" {
		t.Fatalf("consent redirect %v, want error=access_denied", q)
	}
	_, err = f.flow.CallbackQuery(context.Background(), "tenant-a", "user-1", q)
	if !errors.Is(err, slackoauth.ErrDenied) {
		t.Fatalf("error %v, want ErrDenied", err)
	}
	// A cancellation arriving with someone else's state is still refused as a bad state.
	_, err = f.flow.CallbackQuery(context.Background(), "tenant-a", "user-2", q)
	if !errors.Is(err, slackoauth.ErrInvalidState) {
		t.Fatalf("other user's cancellation: %v, want ErrInvalidState", err)
	}
	// An error code that is not Slack's is not echoed.
	q.Set("error", "<script>alert(1)</script>")
	_, err = f.flow.CallbackQuery(context.Background(), "tenant-a", "user-1", q)
	if !errors.Is(err, slackoauth.ErrExchange) || strings.Contains(err.Error(), "script") {
		t.Fatalf("odd error parameter: %v, want ErrExchange without the parameter", err)
	}
}

func TestExchangeRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	state := f.state(t, "tenant-a", "user-1")

	_, err := f.flow.Callback(ctx, "tenant-a", "user-1", "made-up-code", state)
	if !errors.Is(err, slackoauth.ErrExchange) || !strings.Contains(err.Error(), "invalid_code") {
		t.Fatalf("unknown code: %v, want ErrExchange (invalid_code)", err)
	}
	noSecrets(t, err, "made-up-code")

	code := f.slack.IssueCode(alerts)
	ch, err := f.flow.Callback(ctx, "tenant-a", "user-1", code, state)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.flow.Callback(ctx, "tenant-a", "user-1", code, state)
	if !errors.Is(err, slackoauth.ErrExchange) || !strings.Contains(err.Error(), "invalid_code") {
		t.Fatalf("reused code: %v, want ErrExchange (invalid_code)", err)
	}
	noSecrets(t, err, code, ch.WebhookURL)

	_, err = f.flow.Callback(ctx, "tenant-a", "user-1", "", state)
	if !errors.Is(err, slackoauth.ErrExchange) {
		t.Fatalf("no code: %v, want ErrExchange", err)
	}

	expired := f.slack.IssueCode(alerts)
	f.clock.Advance(slackstandin.CodeTTL + time.Second)
	_, err = f.flow.Callback(ctx, "tenant-a", "user-1", expired, f.state(t, "tenant-a", "user-1"))
	if !errors.Is(err, slackoauth.ErrExchange) {
		t.Fatalf("expired code: %v, want ErrExchange", err)
	}

	// The redirect_uri of the exchange must be the one of the consent page.
	other := alerts
	other.RedirectURI = "https://elsewhere.example.com/callback"
	_, err = f.flow.Callback(ctx, "tenant-a", "user-1", f.slack.IssueCode(other), f.state(t, "tenant-a", "user-1"))
	if !errors.Is(err, slackoauth.ErrExchange) || !strings.Contains(err.Error(), "bad_redirect_uri") {
		t.Fatalf("other redirect_uri: %v, want ErrExchange (bad_redirect_uri)", err)
	}
}

func TestWrongClientSecretIsNeverQuoted(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Now()}
	s := slackstandin.New(t, slackstandin.Config{ClientID: clientID, ClientSecret: "the-right-one", RedirectURL: redirectURL, Now: c.Now})
	flow, err := slackoauth.New(slackoauth.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL, StateKey: stateKey,
		APIURL: s.APIURL(), WebhookURLPrefix: s.WebhookPrefix(),
		HTTPClient: outbound.NewClient(outbound.Options{AllowLoopback: true}), Now: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	start, _ := flow.StartURL("tenant-a", "user-1")
	u, _ := url.Parse(start)
	code := s.IssueCode(alerts)
	_, err = flow.Callback(context.Background(), "tenant-a", "user-1", code, u.Query().Get("state"))
	if !errors.Is(err, slackoauth.ErrExchange) || !strings.Contains(err.Error(), "bad_client_secret") {
		t.Fatalf("wrong secret: %v, want ErrExchange (bad_client_secret)", err)
	}
	noSecrets(t, err, code)
	if !strings.HasPrefix(start, slackoauth.DefaultAuthorizeURL+"?") {
		t.Fatalf("start URL %s, want Slack's consent page by default", start)
	}
}

func TestSlackUnreachable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Nothing listens on port 1: Slack is down.
	down, err := slackoauth.New(slackoauth.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL, StateKey: stateKey,
		APIURL: "http://127.0.0.1:1/api/", HTTPClient: outbound.NewClient(outbound.Options{AllowLoopback: true}),
	})
	if err != nil {
		t.Fatal(err)
	}
	start, _ := down.StartURL("tenant-a", "user-1")
	u, _ := url.Parse(start)
	code := f.slack.IssueCode(alerts)
	_, err = down.Callback(context.Background(), "tenant-a", "user-1", code, u.Query().Get("state"))
	if !errors.Is(err, slackoauth.ErrUnavailable) {
		t.Fatalf("Slack down: %v, want ErrUnavailable", err)
	}
	noSecrets(t, err, code)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = f.flow.Callback(ctx, "tenant-a", "user-1", f.slack.IssueCode(alerts), f.state(t, "tenant-a", "user-1"))
	if !errors.Is(err, slackoauth.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v, want ErrUnavailable and context.Canceled", err)
	}
}

func TestDefaultClientRefusesPrivateAddresses(t *testing.T) {
	// Without an HTTPClient the flow uses shared/outbound's SSRF-safe client, which refuses
	// loopback: a misconfigured API URL (or a tampered webhook URL) cannot reach inside.
	t.Parallel()
	f := newFixture(t)
	flow, err := slackoauth.New(slackoauth.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL, StateKey: stateKey,
		APIURL: f.slack.APIURL(), WebhookURLPrefix: f.slack.WebhookPrefix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	start, _ := flow.StartURL("tenant-a", "user-1")
	u, _ := url.Parse(start)
	_, err = flow.Callback(context.Background(), "tenant-a", "user-1", f.slack.IssueCode(alerts), u.Query().Get("state"))
	if !errors.Is(err, slackoauth.ErrUnavailable) || !errors.Is(err, outbound.ErrBlockedAddress) {
		t.Fatalf("exchange via loopback: %v, want ErrUnavailable wrapping ErrBlockedAddress", err)
	}
	ch, err := f.flow.Callback(context.Background(), "tenant-a", "user-1", f.slack.IssueCode(alerts), f.state(t, "tenant-a", "user-1"))
	if err != nil {
		t.Fatal(err)
	}
	err = flow.Post(context.Background(), ch, slackoauth.Message{Text: "hi"})
	if !errors.Is(err, slackoauth.ErrRejected) || !errors.Is(err, outbound.ErrBlockedAddress) {
		t.Fatalf("post via loopback: %v, want ErrRejected wrapping ErrBlockedAddress", err)
	}
	noSecrets(t, err, ch.WebhookURL)
	if len(f.slack.Messages("C0ALERTS")) != 0 {
		t.Fatal("a message reached the stand-in")
	}
}

func TestPostFailuresAreClassified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ch, err := f.flow.Callback(ctx, "tenant-a", "user-1", f.slack.IssueCode(alerts), f.state(t, "tenant-a", "user-1"))
	if err != nil {
		t.Fatal(err)
	}
	token := ch.WebhookURL[strings.LastIndex(ch.WebhookURL, "/")+1:]
	for _, tc := range []struct {
		name       string
		slack      func()
		kind       error
		status     int
		retryAfter time.Duration
	}{
		{"revoked", func() { f.slack.Revoke("C0ALERTS") }, slackoauth.ErrChannelGone, 404, 0},
		{"archived", func() { f.slack.Archive("C0ALERTS") }, slackoauth.ErrChannelGone, 410, 0},
		{"rate limited", func() { f.slack.Throttle("C0ALERTS", "30") }, slackoauth.ErrRateLimited, 429, 30 * time.Second},
		{"rate limited, no Retry-After", func() { f.slack.Throttle("C0ALERTS", "") }, slackoauth.ErrRateLimited, 429, 0},
		{"rate limited, date Retry-After", func() { f.slack.Throttle("C0ALERTS", "Wed, 21 Oct 2026 07:28:00 GMT") }, slackoauth.ErrRateLimited, 429, 0},
		{"slack fault", func() { f.slack.Fail("C0ALERTS", 500, "rollup_error") }, slackoauth.ErrUnavailable, 500, 0},
		{"bad payload", func() { f.slack.Fail("C0ALERTS", 400, "invalid_payload") }, slackoauth.ErrRejected, 400, 0},
		{"prohibited", func() { f.slack.Fail("C0ALERTS", 403, "action_prohibited") }, slackoauth.ErrRejected, 403, 0},
	} {
		tc.slack()
		err := f.flow.Post(ctx, ch, slackoauth.Message{Text: "hello"})
		var pe *slackoauth.PostError
		if !errors.Is(err, tc.kind) || !errors.As(err, &pe) || pe.StatusCode != tc.status || pe.RetryAfter != tc.retryAfter || pe.ChannelID != ch.ID {
			t.Errorf("%s: %#v (%v), want kind %v, status %d, retry after %s", tc.name, pe, err, tc.kind, tc.status, tc.retryAfter)
		}
		noSecrets(t, err, ch.WebhookURL, token)
		f.slack.Restore("C0ALERTS")
	}
	if n := len(f.slack.Messages("C0ALERTS")); n != 0 {
		t.Fatalf("%d messages recorded, want none", n)
	}

	// Refused before sending: an empty message, a URL that is not Slack's.
	if err := f.flow.Post(ctx, ch, slackoauth.Message{}); !errors.Is(err, slackoauth.ErrRejected) {
		t.Errorf("empty message: %v, want ErrRejected", err)
	}
	elsewhere := ch
	elsewhere.WebhookURL = "https://attacker.example.com/services/T0ACME/B0/" + token
	err = f.flow.Post(ctx, elsewhere, slackoauth.Message{Text: "hello"})
	if !errors.Is(err, slackoauth.ErrRejected) {
		t.Errorf("URL outside Slack: %v, want ErrRejected", err)
	}
	noSecrets(t, err, elsewhere.WebhookURL, token)

	// A webhook that is not there at all (deleted on Slack's side) answers 404 no_service.
	unknown := ch
	unknown.WebhookURL = f.slack.WebhookPrefix() + "T0ACME/B0GONE/" + token
	err = f.flow.Post(ctx, unknown, slackoauth.Message{Text: "hello"})
	if !errors.Is(err, slackoauth.ErrChannelGone) {
		t.Errorf("unknown webhook: %v, want ErrChannelGone", err)
	}
	noSecrets(t, err, unknown.WebhookURL, token)
}

func TestPostTransportFailureHidesTheURL(t *testing.T) {
	t.Parallel()
	p, err := slackoauth.NewPoster(outbound.NewClient(outbound.Options{AllowLoopback: true}), "http://127.0.0.1:1/services/")
	if err != nil {
		t.Fatal(err)
	}
	ch := slack.Channel{ID: "slk_x", ChannelName: "#alerts", WebhookURL: "http://127.0.0.1:1/services/T0/B0/tok3nSecret"}
	err = p.Post(context.Background(), ch, slackoauth.Message{Text: "hello"})
	if !errors.Is(err, slackoauth.ErrUnavailable) {
		t.Fatalf("refused connection: %v, want ErrUnavailable", err)
	}
	noSecrets(t, err, ch.WebhookURL, "tok3nSecret")
	if !strings.Contains(err.Error(), "slk_x") {
		t.Fatalf("error %q does not name the channel", err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	ok := slackoauth.Config{ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL, StateKey: stateKey}
	if _, err := slackoauth.New(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, change := range map[string]func(*slackoauth.Config){
		"no client id":       func(c *slackoauth.Config) { c.ClientID = "" },
		"no client secret":   func(c *slackoauth.Config) { c.ClientSecret = "" },
		"no redirect url":    func(c *slackoauth.Config) { c.RedirectURL = "" },
		"relative redirect":  func(c *slackoauth.Config) { c.RedirectURL = "/slack/callback" },
		"short state key":    func(c *slackoauth.Config) { c.StateKey = stateKey[:31] },
		"bad api url":        func(c *slackoauth.Config) { c.APIURL = "slack.com/api" },
		"bad webhook prefix": func(c *slackoauth.Config) { c.WebhookURLPrefix = "hooks" },
	} {
		c := ok
		change(&c)
		_, err := slackoauth.New(c)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		noSecrets(t, err)
	}
}

func TestStateKeyIsCopied(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key := append([]byte(nil), stateKey...)
	flow, err := slackoauth.New(slackoauth.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL, StateKey: key,
		APIURL: f.slack.APIURL(), WebhookURLPrefix: f.slack.WebhookPrefix(),
		HTTPClient: outbound.NewClient(outbound.Options{AllowLoopback: true}), Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	start, _ := flow.StartURL("tenant-a", "user-1")
	key[0] ^= 0xff
	u, _ := url.Parse(start)
	if _, err := flow.Callback(context.Background(), "tenant-a", "user-1", f.slack.IssueCode(alerts), u.Query().Get("state")); err != nil {
		t.Fatalf("callback after the caller reused its key buffer: %v", err)
	}
}
