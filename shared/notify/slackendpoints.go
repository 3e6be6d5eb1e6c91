package notify

import (
	"context"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/slack"
)

// ChannelStore is what the delivery path needs of the Slack channel store: the channels with
// their webhook URLs, and marking one broken when Slack says it is gone.
type ChannelStore interface {
	GetChannels(ctx context.Context, tenant, owner string, ids []string) (map[string]slack.Channel, error)
	MarkBroken(ctx context.Context, tenant, owner, id, reason string, at time.Time) error
}

// SlackEndpoints is the delivery path's view of Slack channels (delivery.EndpointStore for
// delivery.KindSlack): a channel is an endpoint whose URL is its incoming webhook, enabled
// until it is marked broken.
type SlackEndpoints struct {
	Channels ChannelStore
	Now      func() time.Time
}

// Endpoints implements delivery.EndpointSource, one read per tenant and owner.
func (s SlackEndpoints) Endpoints(ctx context.Context, refs []delivery.EndpointRef) (map[delivery.EndpointRef]delivery.Endpoint, error) {
	byOwner := map[[2]string][]string{}
	for _, ref := range refs {
		owner := [2]string{ref.TenantID, ref.OwnerID}
		byOwner[owner] = append(byOwner[owner], ref.WebhookID)
	}
	out := make(map[delivery.EndpointRef]delivery.Endpoint, len(refs))
	for owner, ids := range byOwner {
		chs, err := s.Channels.GetChannels(ctx, owner[0], owner[1], ids)
		if err != nil {
			return nil, err
		}
		for id, ch := range chs {
			ref := delivery.EndpointRef{TenantID: owner[0], Kind: delivery.KindSlack, WebhookID: id, OwnerID: owner[1]}
			out[ref] = delivery.Endpoint{URL: ch.WebhookURL, Enabled: ch.BrokenReason == ""}
		}
	}
	return out, nil
}

// DisableWebhook implements delivery.WebhookDisabler: the channel is marked broken with the
// reason, and only that channel: the owner's other channels go on.
func (s SlackEndpoints) DisableWebhook(ctx context.Context, ref delivery.EndpointRef, reason string) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return s.Channels.MarkBroken(ctx, ref.TenantID, ref.OwnerID, ref.WebhookID, reason, now())
}
