package slackoauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/outbound"
	"github.com/heraldhq/herald/shared/slack"
)

// GoneReason is what a channel Slack refuses for good is marked broken with: Slack's incoming
// webhooks answer 404 (channel_not_found, no_service: the channel was deleted or the app
// removed) or 410 (channel_is_archived), and slack-go keeps the status, not the body.
func GoneReason(status int) string {
	return fmt.Sprintf("Slack answered HTTP %d: the channel was deleted or archived, or the app was removed from it (channel_not_found, no_service, channel_is_archived); connect it again with Add to Slack", status)
}

// PostSlack implements delivery.SlackPoster: it posts a KindSlack job's payload, a Slack
// WebhookMessage (text and Block Kit blocks), to the channel's incoming webhook and reports
// the post as an attempt of the delivery log.
func (p *Poster) PostSlack(ctx context.Context, ep delivery.Endpoint, job delivery.Job) delivery.Result {
	var body slackgo.WebhookMessage
	if err := json.Unmarshal(job.Payload, &body); err != nil {
		return delivery.Result{Class: delivery.ClassBadEndpoint, Snippet: "the job's payload is not a Slack message: " + err.Error()}
	}
	start := time.Now()
	err := p.post(ctx, slack.Channel{ID: job.WebhookID, WebhookURL: ep.URL}, &body)
	latency := time.Since(start)
	if err == nil {
		return delivery.Result{StatusCode: http.StatusOK, Latency: latency}
	}
	var pe *PostError
	if !errors.As(err, &pe) {
		return delivery.Result{Latency: latency, Class: delivery.ClassNetwork, Snippet: err.Error()}
	}
	res := delivery.Result{StatusCode: pe.StatusCode, Latency: latency, Snippet: pe.detail}
	switch {
	case errors.Is(err, ErrChannelGone):
		res.Class, res.Snippet = delivery.ClassHTTPGone, GoneReason(pe.StatusCode)
	case errors.Is(err, ErrRateLimited):
		res.Class, res.RetryAfter = delivery.ClassHTTP4xx, pe.RetryAfter
	case errors.Is(err, outbound.ErrBlockedAddress):
		res.Class = delivery.ClassBlockedAddress
	case errors.Is(err, context.DeadlineExceeded):
		res.Class = delivery.ClassTimeout
	case pe.StatusCode != 0:
		res.Class = delivery.ClassifyStatus(pe.StatusCode)
	case errors.Is(err, ErrRejected):
		res.Class = delivery.ClassBadEndpoint
	default:
		res.Class = delivery.ClassNetwork
	}
	return res
}
