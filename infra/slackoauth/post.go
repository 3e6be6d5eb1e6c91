package slackoauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/heraldhq/herald/shared/outbound"
	"github.com/heraldhq/herald/shared/slack"
)

// postTimeout bounds one post when the caller's context allows more. Slack's incoming
// webhooks answer in a few hundred milliseconds; a post still hanging after 10 s is better
// retried than waited on.
const postTimeout = 10 * time.Second

// Kinds of PostError, for errors.Is. The caller decides from the kind: drop the channel,
// retry later, or give up on the message.
var (
	// ErrChannelGone means Slack will never accept posts to this webhook again: 404
	// (channel_not_found, no_service: the channel was deleted or the app removed) or 410
	// (channel_is_archived). Mark the channel so its owner re-connects it; do not retry.
	ErrChannelGone = errors.New("slack channel revoked")
	// ErrRateLimited means Slack answered 429: retry after PostError.RetryAfter (when Slack
	// gave one), the message is fine.
	ErrRateLimited = errors.New("slack rate limited the post")
	// ErrRejected means Slack refused this message for good (400 invalid_payload or no_text,
	// 403 action_prohibited, another 4xx, a redirect), or Herald refused to send it (empty
	// message, webhook URL outside Slack, a blocked address). Retrying will not help.
	ErrRejected = errors.New("slack rejected the post")
)

// Message is what Herald posts to a channel: Text alone, or Blocks with Text as the
// fallback Slack shows in notifications (https://docs.slack.dev/messaging/#payloads).
type Message struct {
	Text   string
	Blocks []slackgo.Block
}

// PostError is a failed post. Its text names the channel by Herald's id and name, never by
// its webhook URL.
type PostError struct {
	// Kind is ErrChannelGone, ErrRateLimited, ErrRejected, or ErrUnavailable (shared with
	// the OAuth flow) for a transport failure, a time-out or a 5xx: retry with back-off.
	Kind error
	// ChannelID is Herald's id of the channel.
	ChannelID string
	// StatusCode is Slack's answer, 0 when there was none.
	StatusCode int
	// RetryAfter is Slack's Retry-After on a 429, 0 when it gave none.
	RetryAfter time.Duration

	channelName string
	detail      string
	cause       error // context errors or outbound.ErrBlockedAddress only
}

func (e *PostError) Error() string {
	return fmt.Sprintf("post to slack channel %s (%s): %v: %s", e.ChannelID, e.channelName, e.Kind, e.detail)
}

// Unwrap gives errors.Is the kind and, for a time-out or a blocked address, the cause.
func (e *PostError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.cause}
}

// Poster posts to incoming webhooks. It needs none of the app's OAuth secrets, so a process
// that only sends notifications can hold a Poster without them. It is safe for concurrent use.
type Poster struct {
	client *http.Client
	prefix string
}

// NewPoster returns a poster that sends only to URLs under webhookURLPrefix
// (DefaultWebhookURLPrefix when empty) through client (the SSRF-safe client of
// shared/outbound when nil).
func NewPoster(client *http.Client, webhookURLPrefix string) (*Poster, error) {
	if webhookURLPrefix == "" {
		webhookURLPrefix = DefaultWebhookURLPrefix
	}
	if err := checkAbsolute(webhookURLPrefix); err != nil {
		return nil, fmt.Errorf("slack poster: webhook url prefix: %w", err)
	}
	if client == nil {
		client = outbound.NewClient(outbound.Options{})
	}
	return &Poster{client: client, prefix: webhookURLPrefix}, nil
}

// Post sends msg to ch's incoming webhook with slack-go. Failures are *PostError (see its
// kinds). It uses slack-go's PostWebhookCustomHTTPContext rather than PostWebhookContext,
// which would send through http.DefaultClient: no SSRF guard, and a connection pool of two.
func (p *Poster) Post(ctx context.Context, ch slack.Channel, msg Message) error {
	body := &slackgo.WebhookMessage{Text: msg.Text}
	if len(msg.Blocks) > 0 {
		body.Blocks = &slackgo.Blocks{BlockSet: msg.Blocks}
	}
	return p.post(ctx, ch, body)
}

func (p *Poster) post(ctx context.Context, ch slack.Channel, body *slackgo.WebhookMessage) error {
	fail := func(kind error, status int, detail string) *PostError {
		return &PostError{Kind: kind, ChannelID: ch.ID, StatusCode: status, channelName: ch.ChannelName, detail: detail}
	}
	if body.Text == "" && (body.Blocks == nil || len(body.Blocks.BlockSet) == 0) {
		return fail(ErrRejected, 0, "the message has neither text nor blocks")
	}
	if ch.WebhookURL == "" || !strings.HasPrefix(ch.WebhookURL, p.prefix) {
		return fail(ErrRejected, 0, "its webhook URL is not a Slack incoming webhook under "+p.prefix)
	}
	ctx, cancel := context.WithTimeout(ctx, postTimeout)
	defer cancel()
	err := slackgo.PostWebhookCustomHTTPContext(ctx, ch.WebhookURL, p.client, body)
	if err == nil {
		return nil
	}

	secrets := []string{ch.WebhookURL}
	if u, perr := url.Parse(ch.WebhookURL); perr == nil && u.Path != "" && u.Path != "/" {
		secrets = append(secrets, u.Path)
	}
	var (
		rateLimited *slackgo.RateLimitedError
		status      slackgo.StatusCodeError
		transport   *url.Error
		badNumber   *strconv.NumError
	)
	switch {
	case errors.As(err, &rateLimited):
		e := fail(ErrRateLimited, http.StatusTooManyRequests, "retry after "+rateLimited.RetryAfter.String())
		e.RetryAfter = rateLimited.RetryAfter
		return e
	case errors.As(err, &status):
		kind := ErrRejected
		switch {
		case status.Code == http.StatusNotFound || status.Code == http.StatusGone:
			kind = ErrChannelGone
		case status.Code == http.StatusTooManyRequests:
			kind = ErrRateLimited
		case status.Code >= 500:
			kind = ErrUnavailable
		}
		return fail(kind, status.Code, "slack answered HTTP "+strconv.Itoa(status.Code))
	case errors.As(err, &transport):
		e := fail(ErrUnavailable, 0, redact(transport.Err.Error(), secrets...))
		e.cause = safeCause(err)
		if errors.Is(err, outbound.ErrBlockedAddress) {
			e.Kind = ErrRejected
		}
		return e
	case errors.As(err, &badNumber):
		// slack-go parses Retry-After only on a 429, and fails on anything but whole
		// seconds (an HTTP date): it was still a 429.
		return fail(ErrRateLimited, http.StatusTooManyRequests, "retry after an unreadable Retry-After")
	default: // the message would not marshal
		return fail(ErrRejected, 0, redact(err.Error(), secrets...))
	}
}
