package dispatch_test

import (
	"context"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/idempotency"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/digest/dispatch"
	"github.com/heraldhq/herald/shared/notifications"
)

// recordingQueue keeps what was enqueued.
type recordingQueue struct{ jobs []delivery.Job }

func (q *recordingQueue) Enqueue(_ context.Context, jobs []delivery.Job) error {
	q.jobs = append(q.jobs, jobs...)
	return nil
}

// A due digest of a notification with an ordered and an unordered webhook and a Slack channel,
// on the embedded stores: the ordered webhook's digest_event is an ordered job, the others
// are not (Slack posts never are).
func TestDigestJobsCarryTheirWebhooksOrdering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
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
	schedules, err := sqlitestore.NewSchedules(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	activity, err := sqlitestore.NewActivity(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := sqlitestore.NewIdempotency(ctx, db, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	due := time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC)
	n := notifications.Notification{
		ID: "ntf_1", TenantID: "acme", OwnerID: "user-1", Title: "Daily QA", Projects: []string{"proj-1"},
		Channels: notifications.Channels{SlackChannels: []string{"slk_1"}, Webhooks: []notifications.Webhook{
			{ID: "nwh_ordered", URL: "https://hooks.example.com/ordered", Secrets: []string{"whsec_x"}, Enabled: true, Ordered: true},
			{ID: "nwh_plain", URL: "https://hooks.example.com/plain", Secrets: []string{"whsec_y"}, Enabled: true},
		}},
		Triggers: notifications.Triggers{Digests: []notifications.Digest{{TimesOfDay: []string{"09:00"}, TimeZone: "UTC"}}},
		Version:  1, CreatedAt: due.Add(-48 * time.Hour), UpdatedAt: due.Add(-48 * time.Hour),
	}
	if err := store.CreateNotification(ctx, n); err != nil {
		t.Fatal(err)
	}
	plan, err := digest.Plan(n, digest.Schedule{}, due.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := schedules.PutSchedule(ctx, plan); err != nil {
		t.Fatal(err)
	}

	queue := &recordingQueue{}
	d := &dispatch.Dispatcher{
		Schedules: schedules, Notifications: store, Activity: activity, Queue: queue,
		Claims: idempotency.PostClaims{Store: claims, Kind: "digest"},
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return due.Add(time.Minute) },
	}
	if rep, err := d.Run(ctx); err != nil || rep.Sent != 1 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	got := map[string]bool{}
	for _, j := range queue.jobs {
		got[j.WebhookID] = j.Ordered
	}
	if want := map[string]bool{"nwh_ordered": true, "nwh_plain": false, "slk_1": false}; !maps.Equal(got, want) {
		t.Fatalf("ordered by target %v, want %v", got, want)
	}
}
