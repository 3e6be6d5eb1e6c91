// Package slackoauth connects Slack channels to Herald and posts to them: the OAuth v2 flow
// behind the "Add to Slack" button with the incoming-webhook scope, and messages sent to the
// incoming webhook that flow yields. It talks to Slack through slack-go
// (github.com/slack-go/slack); the tests run it against tests/slackstandin.
//
// The flow, for a signed-in user of a tenant:
//
//  1. StartURL gives the URL of Slack's consent page. Its state parameter is signed with
//     HMAC-SHA256 and binds the tenant, the user, a random nonce and an expiry ten minutes
//     out, so Herald needs no storage between the two legs.
//  2. The user picks a workspace and channel; Slack redirects to the app's redirect URL with
//     code and state (or error=access_denied when the user cancels).
//  3. Callback (or CallbackQuery, given the redirect's query) checks the state against the
//     signed-in user, exchanges the code with oauth.v2.access and returns the channel,
//     ready for the channel store. The bot token that comes with the answer is dropped:
//     posting through an incoming webhook needs none, and a token not kept cannot leak.
//
// The state is what stops a cross-site request forgery: without it an attacker could send
// a victim to the redirect URL with the attacker's own code and have the attacker's channel
// (receiving the victim's notifications) connected to the victim's account. A state made for
// another user or tenant, altered in any byte, older than ten minutes, or not made by Herald
// at all fails the check before any call to Slack, so the code is not spent.
//
// Errors are classified (ErrInvalidState, ErrDenied, ErrExchange, ErrUnavailable for the
// flow; PostError kinds for posting), and none of them quotes the client secret, the code or
// a webhook URL.
package slackoauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/heraldhq/herald/shared/outbound"
	"github.com/heraldhq/herald/shared/slack"
)

// Scope is the only OAuth scope Herald asks for: an incoming webhook into the one channel
// the user picks on the consent page.
const Scope = "incoming-webhook"

// Defaults of Config.
const (
	DefaultAuthorizeURL = "https://slack.com/oauth/v2/authorize"
	DefaultAPIURL       = slackgo.APIURL
	// DefaultWebhookURLPrefix is where every incoming-webhook URL Slack issues lives.
	DefaultWebhookURLPrefix = "https://hooks.slack.com/services/"
)

// MinStateKeyLen is the shortest StateKey New accepts: RFC 2104 (section 3) advises an HMAC
// key at least as long as the hash output, 32 bytes for SHA-256.
const MinStateKeyLen = 32

// exchangeTimeout bounds the oauth.v2.access call when the caller's context allows more.
// Slack answers in well under a second; the user is waiting on the redirect meanwhile, and
// after 10 s an error page with "try again" serves them better than a spinner.
const exchangeTimeout = 10 * time.Second

var (
	// ErrInvalidState means the callback's state was not made by StartURL for this tenant
	// and user, was altered, or has expired: refuse the callback (HTTP 400) and let the user
	// start again.
	ErrInvalidState = errors.New("invalid slack oauth state")
	// ErrDenied means the user cancelled on Slack's consent page (error=access_denied).
	ErrDenied = errors.New("slack access denied by the user")
	// ErrExchange means Slack refused the exchange (invalid_code, bad_client_secret ...) or
	// answered without a usable incoming webhook. Retrying the same code will not help; the
	// user may start again.
	ErrExchange = errors.New("slack refused the oauth exchange")
	// ErrUnavailable means Slack could not be reached, timed out, or answered 5xx or 429:
	// nothing is wrong with the request, but the code may be spent; the user starts again.
	ErrUnavailable = errors.New("slack is unavailable")
)

// Config is the Slack app Herald runs as.
type Config struct {
	ClientID     string
	ClientSecret string
	// RedirectURL is the app's redirect URL, registered in the Slack app's settings.
	RedirectURL string
	// StateKey signs the state parameter (HMAC-SHA256); at least MinStateKeyLen random bytes,
	// the same on every instance that may receive the callback.
	StateKey []byte
	// AuthorizeURL is Slack's consent page; DefaultAuthorizeURL when empty.
	AuthorizeURL string
	// APIURL is Slack's Web API base URL; DefaultAPIURL when empty.
	APIURL string
	// WebhookURLPrefix is where incoming-webhook URLs must live; DefaultWebhookURLPrefix when
	// empty. An exchange answering another URL is refused and Post refuses to send elsewhere,
	// so a tampered record cannot turn the sender into a request forger.
	WebhookURLPrefix string
	// HTTPClient calls Slack; when nil, the SSRF-safe client of shared/outbound, which
	// refuses private and loopback addresses and follows no redirects.
	HTTPClient *http.Client
	// Now is the clock of the state's expiry and of CreatedAt; time.Now when nil.
	Now func() time.Time
}

// withDefaults fills the empty fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.ClientID == "" {
		return c, errors.New("slack oauth config: client id is required")
	}
	if c.ClientSecret == "" {
		return c, errors.New("slack oauth config: client secret is required")
	}
	if len(c.StateKey) < MinStateKeyLen {
		return c, fmt.Errorf("slack oauth config: state key has %d bytes, want at least %d", len(c.StateKey), MinStateKeyLen)
	}
	c.StateKey = append([]byte(nil), c.StateKey...)
	if c.AuthorizeURL == "" {
		c.AuthorizeURL = DefaultAuthorizeURL
	}
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	// slack-go appends the method name to the base URL.
	if !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/"
	}
	if c.WebhookURLPrefix == "" {
		c.WebhookURLPrefix = DefaultWebhookURLPrefix
	}
	for _, u := range []struct{ name, value string }{
		{"redirect url", c.RedirectURL}, {"authorize url", c.AuthorizeURL}, {"api url", c.APIURL},
		{"webhook url prefix", c.WebhookURLPrefix},
	} {
		if err := checkAbsolute(u.value); err != nil {
			return c, fmt.Errorf("slack oauth config: %s: %w", u.name, err)
		}
	}
	if c.HTTPClient == nil {
		c.HTTPClient = outbound.NewClient(outbound.Options{})
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

func checkAbsolute(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return nil
}

// Flow runs the "Add to Slack" flow of one Slack app and posts to the channels it connects.
// It is safe for concurrent use.
type Flow struct {
	cfg    Config
	poster *Poster
}

// New checks cfg, fills its defaults and returns the flow.
func New(cfg Config) (*Flow, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Flow{cfg: cfg, poster: &Poster{client: cfg.HTTPClient, prefix: cfg.WebhookURLPrefix}}, nil
}

// StartURL returns the URL of Slack's consent page for user of tenant: client_id,
// scope=incoming-webhook, redirect_uri and a fresh signed state.
func (f *Flow) StartURL(tenant, user string) (string, error) {
	if tenant == "" || user == "" {
		return "", errors.New("start slack oauth: tenant and user are required")
	}
	state, err := newState(f.cfg.StateKey, tenant, user, f.cfg.Now())
	if err != nil {
		return "", fmt.Errorf("start slack oauth for user %s: %w", user, err)
	}
	u, err := url.Parse(f.cfg.AuthorizeURL)
	if err != nil {
		return "", fmt.Errorf("start slack oauth: authorize url: %w", err)
	}
	q := u.Query()
	q.Set("client_id", f.cfg.ClientID)
	q.Set("scope", Scope)
	q.Set("redirect_uri", f.cfg.RedirectURL)
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// CallbackQuery handles the redirect from Slack given its query: code and state, or error
// and state when the user cancelled (ErrDenied) or Slack refused the request (ErrExchange).
// The state is checked first either way.
func (f *Flow) CallbackQuery(ctx context.Context, tenant, user string, q url.Values) (slack.Channel, error) {
	if err := checkState(f.cfg.StateKey, tenant, user, q.Get("state"), f.cfg.Now()); err != nil {
		return slack.Channel{}, fmt.Errorf("slack oauth callback for user %s: %w", user, err)
	}
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			return slack.Channel{}, fmt.Errorf("slack oauth callback for user %s: %w", user, ErrDenied)
		}
		return slack.Channel{}, fmt.Errorf("slack oauth callback for user %s: %w: slack answered %s", user, ErrExchange, slackCode(e))
	}
	return f.exchange(ctx, tenant, user, q.Get("code"))
}

// Callback checks state against tenant and user, exchanges code with oauth.v2.access and
// returns the connected channel, ready for SaveChannel.
func (f *Flow) Callback(ctx context.Context, tenant, user, code, state string) (slack.Channel, error) {
	if err := checkState(f.cfg.StateKey, tenant, user, state, f.cfg.Now()); err != nil {
		return slack.Channel{}, fmt.Errorf("slack oauth callback for user %s: %w", user, err)
	}
	return f.exchange(ctx, tenant, user, code)
}

func (f *Flow) exchange(ctx context.Context, tenant, user, code string) (slack.Channel, error) {
	op := "exchange slack oauth code for user " + user
	if code == "" {
		return slack.Channel{}, fmt.Errorf("%s: %w: the callback has no code", op, ErrExchange)
	}
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	resp, err := slackgo.GetOAuthV2ResponseContext(ctx, f.cfg.HTTPClient, f.cfg.ClientID, f.cfg.ClientSecret, code,
		f.cfg.RedirectURL, slackgo.OAuthOptionAPIURL(f.cfg.APIURL))
	if err != nil {
		return slack.Channel{}, f.exchangeError(op, err, code)
	}
	if !resp.Ok {
		return slack.Channel{}, fmt.Errorf("%s: %w: slack answered ok=false without an error code", op, ErrExchange)
	}
	hook := resp.IncomingWebhook
	if hook.URL == "" || hook.ChannelID == "" {
		return slack.Channel{}, fmt.Errorf("%s: %w: slack's answer has no incoming webhook (was the %s scope granted?)", op, ErrExchange, Scope)
	}
	if !strings.HasPrefix(hook.URL, f.cfg.WebhookURLPrefix) {
		return slack.Channel{}, fmt.Errorf("%s: %w: slack's incoming webhook URL is not under %s", op, ErrExchange, f.cfg.WebhookURLPrefix)
	}
	ch := slack.Channel{
		ID:       slack.NewChannelID(tenant, user, resp.Team.ID, hook.ChannelID),
		TenantID: tenant, OwnerID: user,
		TeamID: resp.Team.ID, TeamName: resp.Team.Name,
		ChannelID: hook.ChannelID, ChannelName: hook.Channel,
		WebhookURL: hook.URL, ConfigurationURL: hook.ConfigurationURL,
		CreatedAt: f.cfg.Now().UTC(),
	}
	if err := ch.Validate(); err != nil {
		// FieldError texts name the field, never its value.
		return slack.Channel{}, fmt.Errorf("%s: %w: slack's answer: %v", op, ErrExchange, err)
	}
	return ch, nil
}

// exchangeError classifies a failed oauth.v2.access call. Slack reports refusals as HTTP 200
// with ok=false and an error code (slack-go's SlackErrorResponse); HTTP errors and transport
// failures say nothing about the request.
func (f *Flow) exchangeError(op string, err error, code string) error {
	var (
		refused     slackgo.SlackErrorResponse
		rateLimited *slackgo.RateLimitedError
		status      slackgo.StatusCodeError
		transport   *url.Error
	)
	switch {
	case errors.As(err, &refused):
		return fmt.Errorf("%s: %w: slack answered %s", op, ErrExchange, slackCode(refused.Err))
	case errors.As(err, &rateLimited):
		return fmt.Errorf("%s: %w: rate limited, retry after %s", op, ErrUnavailable, rateLimited.RetryAfter)
	case errors.As(err, &status):
		if status.Code >= 500 || status.Code == http.StatusTooManyRequests {
			return fmt.Errorf("%s: %w: HTTP %d", op, ErrUnavailable, status.Code)
		}
		return fmt.Errorf("%s: %w: HTTP %d", op, ErrExchange, status.Code)
	case errors.As(err, &transport):
		return fmt.Errorf("%s: %w", op, &causeError{kind: ErrUnavailable, detail: redact(transport.Err.Error(), f.cfg.ClientSecret, code), cause: safeCause(err)})
	default: // an answer that is not Slack's JSON
		return fmt.Errorf("%s: %w: unreadable answer: %s", op, ErrUnavailable, redact(err.Error(), f.cfg.ClientSecret, code))
	}
}

// Post sends msg to ch's incoming webhook; see Poster.Post.
func (f *Flow) Post(ctx context.Context, ch slack.Channel, msg Message) error {
	return f.poster.Post(ctx, ch, msg)
}

// codeShape is what Slack's error codes look like (invalid_code, access_denied). Anything
// else in an error field is shown as "an unexpected error code": the callback's error
// parameter comes from whoever sent the browser there.
var codeShape = regexp.MustCompile(`^[a-z0-9_.]{1,64}$`)

func slackCode(s string) string {
	if codeShape.MatchString(s) {
		return s
	}
	return "an unexpected error code"
}

// redact removes every secret from s.
func redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// safeCause keeps from err only the causes callers test for and whose text is fixed:
// context cancellation and deadlines, and refused destinations.
func safeCause(err error) error {
	for _, c := range []error{context.Canceled, context.DeadlineExceeded, outbound.ErrBlockedAddress} {
		if errors.Is(err, c) {
			return c
		}
	}
	return nil
}

// causeError is a classified failure whose text is redacted: errors.Is finds its kind and
// its cause, but never the original error, whose text may hold a secret (url.Error quotes
// the whole request URL, and a webhook's URL is its secret).
type causeError struct {
	kind   error
	detail string
	cause  error
}

func (e *causeError) Error() string { return e.kind.Error() + ": " + e.detail }

func (e *causeError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}
