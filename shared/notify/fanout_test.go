package notify_test

import (
	"context"
	"maps"
	"testing"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/events/stagetransition/parse"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/notify"
)

// recordingQueue keeps what was enqueued.
type recordingQueue struct{ jobs []delivery.Job }

func (q *recordingQueue) Enqueue(_ context.Context, jobs []delivery.Job) error {
	q.jobs = append(q.jobs, jobs...)
	return nil
}

// A notification with an ordered and an unordered webhook and a Slack channel: a submitted task gives the ordered webhook an ordered job and the others
// unordered ones (Slack posts are never ordered).
func TestFanoutJobsCarryTheirWebhooksOrdering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	detail, err := samples.Detail("router/task-submitted.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := parse.Detail(detail)
	if err != nil {
		t.Fatal(err)
	}
	occs, err := notify.FromTransition(d)
	if err != nil {
		t.Fatal(err)
	}

	// The stores' side (SubscriptionOf and OrderedWebhookIDs on both backends) is in the config
	// contract; here, what the fan-out makes of a subscription.
	sub := notifications.SubscriptionOf(notifications.Notification{
		ID: "ntf_1", TenantID: d.TenantID, OwnerID: "user-1", Title: "Submissions", Projects: []string{d.ProjectHash},
		Channels: notifications.Channels{SlackChannels: []string{"slk_1"}, Webhooks: []notifications.Webhook{
			{ID: "nwh_ordered", Enabled: true, Ordered: true},
			{ID: "nwh_plain", Enabled: true},
		}},
		Triggers: notifications.Triggers{Events: []notifications.EventType{notifications.TaskSubmitted}},
	})

	queue := &recordingQueue{}
	f := &notify.Fanout{Subscriptions: oneSubscription{sub}, Queue: queue, Lines: noLines{}}
	if _, err := f.Route(ctx, occs); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, j := range queue.jobs {
		got[j.WebhookID] = j.Ordered
	}
	if want := map[string]bool{"nwh_ordered": true, "nwh_plain": false, "slk_1": false}; !maps.Equal(got, want) {
		t.Fatalf("ordered by target %v, want %v", got, want)
	}
}

// oneSubscription finds its subscription for any tenant and project.
type oneSubscription struct{ sub notifications.Subscription }

func (o oneSubscription) SubscriptionsForProject(context.Context, string, string) ([]notifications.Subscription, error) {
	return []notifications.Subscription{o.sub}, nil
}

// noLines takes email lines and keeps none (the notification has no addresses).
type noLines struct{}

func (noLines) AddLines(_ context.Context, lines []mailbatch.Line) (int, error) {
	return len(lines), nil
}
