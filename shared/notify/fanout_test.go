package notify_test

import (
	"context"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/events/stagetransition/parse"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/notify"
)

// recordingQueue keeps what was enqueued.
type recordingQueue struct{ jobs []delivery.Job }

func (q *recordingQueue) Enqueue(_ context.Context, jobs []delivery.Job) error {
	q.jobs = append(q.jobs, jobs...)
	return nil
}

// A notification with an ordered and an unordered webhook and a Slack channel, stored in the
// embedded store: a submitted task gives the ordered webhook an ordered job and the others
// unordered ones (Slack posts are never ordered).
func TestFanoutJobsCarryTheirWebhooksOrdering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw, err := samples.Read("router/task-submitted.json")
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	d, err := parse.Detail(env.Detail)
	if err != nil {
		t.Fatal(err)
	}
	occs, err := notify.FromTransition(d)
	if err != nil {
		t.Fatal(err)
	}

	db, err := sqlitedb.Open(ctx, t.TempDir(), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	lines, err := sqlitestore.NewMailLines(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lines.Close() })
	now := time.Now().UTC()
	n := notifications.Notification{
		ID: "ntf_1", TenantID: d.TenantID, OwnerID: "user-1", Title: "Submissions", Projects: []string{d.ProjectHash},
		Channels: notifications.Channels{SlackChannels: []string{"slk_1"}, Webhooks: []notifications.Webhook{
			{ID: "nwh_ordered", URL: "https://hooks.example.com/ordered", Secrets: []string{"whsec_x"}, Enabled: true, Ordered: true},
			{ID: "nwh_plain", URL: "https://hooks.example.com/plain", Secrets: []string{"whsec_y"}, Enabled: true},
		}},
		Triggers: notifications.Triggers{Events: []notifications.EventType{notifications.TaskSubmitted}},
		Version:  1, CreatedAt: now, UpdatedAt: now,
	}
	if err := store.CreateNotification(ctx, n); err != nil {
		t.Fatal(err)
	}

	queue := &recordingQueue{}
	f := &notify.Fanout{Subscriptions: store, Queue: queue, Lines: lines}
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
