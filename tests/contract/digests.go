package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/heraldhq/herald/events/payloads"
	"github.com/heraldhq/herald/infra/idempotency"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/digest/dispatch"
	"github.com/heraldhq/herald/shared/mail"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/notifications"
)

// DigestBackend is one backend's stores for digests, fresh and empty.
type DigestBackend struct {
	Schedules     digest.ScheduleStore
	Activity      digest.ActivityStore
	Notifications interface {
		dispatch.NotificationReader
		CreateNotification(ctx context.Context, n notifications.Notification) error
		UpdateNotification(ctx context.Context, n notifications.Notification, expectedVersion int64) (notifications.Notification, error)
	}
	Idempotency idempotency.Store
}

// TestScheduleStore runs the digest schedule store contract.
func TestScheduleStore(t *testing.T, newStore func(t *testing.T) digest.ScheduleStore) {
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Minute)
	sched := func(tenant, id string, dues ...time.Duration) digest.Schedule {
		s := digest.Schedule{TenantID: tenant, NotificationID: id, Slots: map[string]time.Time{}}
		for i, d := range dues {
			s.Slots[fmt.Sprintf("UTC 0%d:00 24h0m0s false", i)] = base.Add(d)
		}
		s.NextDue = digest.Earliest(s.Slots)
		return s
	}
	put := func(t *testing.T, s digest.ScheduleStore, sc digest.Schedule) {
		t.Helper()
		if err := s.PutSchedule(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	due := func(t *testing.T, s digest.ScheduleStore, now time.Time) []string {
		t.Helper()
		var out []string
		for sc, err := range s.Due(ctx, now) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, sc.TenantID+"/"+sc.NotificationID)
		}
		slices.Sort(out)
		return out
	}

	t.Run("schedules read back; one without slots is deleted", func(t *testing.T) {
		s := newStore(t)
		want := sched("tenant-a", "ntf_1", time.Hour, 2*time.Hour)
		put(t, s, want)
		got, found, err := s.GetSchedule(ctx, "tenant-a", "ntf_1")
		if err != nil || !found || !got.NextDue.Equal(want.NextDue) || len(got.Slots) != 2 || !got.Slots["UTC 01:00 24h0m0s false"].Equal(base.Add(2*time.Hour)) {
			t.Fatalf("read %+v, %v, %v", got, found, err)
		}
		if _, found, _ := s.GetSchedule(ctx, "tenant-b", "ntf_1"); found {
			t.Fatal("another tenant reads the schedule")
		}
		put(t, s, digest.Schedule{TenantID: "tenant-a", NotificationID: "ntf_1"})
		if _, found, _ := s.GetSchedule(ctx, "tenant-a", "ntf_1"); found {
			t.Fatal("a schedule without slots was kept")
		}
	})

	t.Run("due lists the schedules due by now, of every tenant", func(t *testing.T) {
		s := newStore(t)
		put(t, s, sched("tenant-a", "ntf_past", -time.Minute))
		put(t, s, sched("tenant-b", "ntf_now", 0))
		put(t, s, sched("tenant-a", "ntf_later", time.Minute))
		if got := due(t, s, base); fmt.Sprint(got) != "[tenant-a/ntf_past tenant-b/ntf_now]" {
			t.Fatalf("due %v", got)
		}
		if err := s.DeleteSchedule(ctx, "tenant-b", "ntf_now"); err != nil {
			t.Fatal(err)
		}
		if got := due(t, s, base.Add(time.Hour)); fmt.Sprint(got) != "[tenant-a/ntf_later tenant-a/ntf_past]" {
			t.Fatalf("due an hour later %v", got)
		}
	})

	t.Run("one claim at a time; advance by its owner only, at the revision it claimed", func(t *testing.T) {
		s := newStore(t)
		sc := sched("tenant-a", "ntf_1", -time.Minute)
		put(t, s, sc)
		var wins sync.WaitGroup
		won := make([]bool, 4)
		claims := make([]digest.Schedule, 4)
		for i := range won {
			wins.Go(func() {
				claimed, ok, err := s.Claim(ctx, sc, fmt.Sprintf("run-%d", i), base, base.Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				won[i], claims[i] = ok, claimed
			})
		}
		wins.Wait()
		winner := slices.Index(won, true)
		if winner < 0 || slices.Index(won[winner+1:], true) >= 0 {
			t.Fatalf("claims %v: want exactly one", won)
		}
		claimed := claims[winner]
		if claimed.Revision != 1 || !claimed.NextDue.Equal(sc.NextDue) || len(claimed.Slots) != 1 {
			t.Fatalf("claimed %+v: want the schedule as written once", claimed)
		}
		owner := fmt.Sprintf("run-%d", winner)
		// An edit of the notification meanwhile adds a time of day; the lease stays.
		edited := sched("tenant-a", "ntf_1", -time.Minute, 30*time.Minute)
		put(t, s, edited)
		if _, ok, _ := s.Claim(ctx, edited, "late", base.Add(30*time.Second), base.Add(2*time.Minute)); ok {
			t.Fatal("a second run claimed a leased schedule")
		}
		if ok, _ := s.Advance(ctx, claimed, "not-the-owner"); ok {
			t.Fatal("a run advanced a schedule it does not hold")
		}
		next := claimed
		next.Slots = map[string]time.Time{"UTC 00:00 24h0m0s false": base.Add(24 * time.Hour)}
		next.NextDue = base.Add(24 * time.Hour)
		if ok, err := s.Advance(ctx, next, owner); ok || err != nil {
			t.Fatalf("the owner's advance over an edit it did not see: %v %v; want refused", ok, err)
		}
		latest, found, err := s.GetSchedule(ctx, "tenant-a", "ntf_1")
		if err != nil || !found || latest.LeaseOwner != owner || latest.Revision != 2 || len(latest.Slots) != 2 {
			t.Fatalf("after the edit %+v, %v, %v: want revision 2, two slots, still leased to %s", latest, found, err, owner)
		}
		merged := digest.Merge(latest, next, map[string]time.Time{"UTC 00:00 24h0m0s false": base.Add(-time.Minute)})
		if ok, err := s.Advance(ctx, merged, owner); !ok || err != nil {
			t.Fatalf("the owner's advance of the merged schedule: %v %v", ok, err)
		}
		if after, _, _ := s.GetSchedule(ctx, "tenant-a", "ntf_1"); after.LeaseOwner != "" || !after.NextDue.Equal(base.Add(30*time.Minute)) ||
			!after.Slots["UTC 00:00 24h0m0s false"].Equal(base.Add(24*time.Hour)) {
			t.Fatalf("after the merged advance %+v: the sent slot moved on, the added one kept, no lease", after)
		}
		if _, ok, _ := s.Claim(ctx, sc, "stale", base.Add(time.Hour), base.Add(2*time.Hour)); ok {
			t.Fatal("a claim of the old due time succeeded after the advance")
		}
		if got := due(t, s, base.Add(10*time.Minute)); len(got) != 0 {
			t.Fatalf("still due: %v", got)
		}
	})

	t.Run("a lease that ran out can be taken over", func(t *testing.T) {
		s := newStore(t)
		sc := sched("tenant-a", "ntf_1", -time.Minute)
		put(t, s, sc)
		crashed, ok, _ := s.Claim(ctx, sc, "crashed", base, base.Add(time.Minute))
		if !ok {
			t.Fatal("first claim refused")
		}
		if _, ok, _ := s.Claim(ctx, sc, "next", base.Add(2*time.Minute), base.Add(3*time.Minute)); !ok {
			t.Fatal("the claim after the lease ran out was refused")
		}
		if ok, _ := s.Advance(ctx, crashed, "crashed"); ok {
			t.Fatal("the crashed run's late advance went through")
		}
	})
}

// TestDispatcher sends due digests over a backend's real stores, with a mail sender and a job
// queue that record what they get.
func TestDispatcher(t *testing.T, newBackend func(t *testing.T) DigestBackend) {
	ctx := context.Background()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	// Yesterday 09:00 in New York: recent enough that the activity has not expired.
	y, m, d := time.Now().In(ny).AddDate(0, 0, -1).Date()
	due := time.Date(y, m, d, 9, 0, 0, 0, ny)
	links := mailbatch.Links{BaseURL: "https://api.herald.example", Key: []byte(strings.Repeat("k", 32))}
	setUp := func(t *testing.T, skipEmpty bool, projects ...string) (DigestBackend, notifications.Notification) {
		t.Helper()
		be := newBackend(t)
		n := NewNotification(t, "tenant-a", "ntf_digest", "alice", "Daily QA", NewNotificationWebhook(t, "nwh_digest", "https://hooks.example.com/digest"))
		n.Projects = projects
		n.Channels.Emails = []string{"lead@example.com", "QA@example.com"}
		n.Channels.SlackChannels = []string{"slk_qa"}
		n.Triggers = notifications.Triggers{Digests: []notifications.Digest{{TimesOfDay: []string{"09:00"}, TimeZone: "America/New_York", Period: 24 * time.Hour, SkipEmpty: skipEmpty}}}
		if err := be.Notifications.CreateNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		plan, err := digest.Plan(n, digest.Schedule{}, due.Add(-time.Hour))
		if err != nil || !plan.NextDue.Equal(due) {
			t.Fatalf("plan %+v, %v; want due at %v", plan, err, due)
		}
		if err := be.Schedules.PutSchedule(ctx, plan); err != nil {
			t.Fatal(err)
		}
		return be, n
	}
	dispatcher := func(be DigestBackend, q *recordingQueue, box *mailbox, at time.Time) *dispatch.Dispatcher {
		t := t
		return &dispatch.Dispatcher{
			Schedules: be.Schedules, Notifications: be.Notifications, Activity: be.Activity, Queue: q,
			Mail: box, Claims: idempotency.PostClaims{Store: be.Idempotency, Kind: "digest"},
			From: "Herald <herald@example.com>", Links: links, Logger: slog.New(slog.NewTextHandler(testLog{t}, nil)),
			Now: func() time.Time { return at },
		}
	}
	run := func(t *testing.T, d *dispatch.Dispatcher) dispatch.Report {
		t.Helper()
		rep, err := d.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	jobIDs := func(q *recordingQueue) []string {
		var ids []string
		for _, j := range q.Jobs() {
			ids = append(ids, string(j.Kind)+":"+j.ID)
		}
		slices.Sort(ids)
		return ids
	}

	t.Run("two runs at once send one digest: an email per address, a post per channel, a signed event per webhook", func(t *testing.T) {
		be, _ := setUp(t, false, "p1", "p-quiet")
		err := be.Activity.RecordActivity(ctx, []digest.Activity{
			{ID: "in", TenantID: "tenant-a", ProjectHash: "p1", At: due.Add(-time.Hour), Kind: digest.KindLabelSubmitted, User: "ann@example.com", TimeSpentMS: 4000},
			{ID: "edge", TenantID: "tenant-a", ProjectHash: "p1", At: due.Add(-24 * time.Hour), Kind: digest.KindLabelSubmitted, User: "ann@example.com", TimeSpentMS: 2000},
			{ID: "after", TenantID: "tenant-a", ProjectHash: "p1", At: due, Kind: digest.KindLabelSubmitted, User: "late@example.com", TimeSpentMS: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		q, box := &recordingQueue{}, newMailbox()
		var wg sync.WaitGroup
		reports := make([]dispatch.Report, 2)
		for i := range reports {
			wg.Go(func() { reports[i] = run(t, dispatcher(be, q, box, due.Add(30*time.Second))) })
		}
		wg.Wait()
		if reports[0].Sent+reports[1].Sent != 1 {
			t.Fatalf("reports %+v: want one digest sent", reports)
		}
		if len(box.to("lead@example.com")) != 1 || len(box.to("qa@example.com")) != 1 || box.total() != 2 {
			t.Fatalf("emails: lead %d, qa %d, total %d", len(box.to("lead@example.com")), len(box.to("qa@example.com")), box.total())
		}
		jobs := q.Jobs()
		if len(jobs) != 2 {
			t.Fatalf("jobs %+v: want one webhook delivery and one Slack post", jobs)
		}
		var hook delivery.Job
		for _, j := range jobs {
			if j.Kind == delivery.KindSlack {
				if j.WebhookID != "slk_qa" || j.OwnerID != "alice" || !strings.Contains(string(j.Payload), "Daily QA") {
					t.Fatalf("slack job %+v", j)
				}
				continue
			}
			hook = j
		}
		if hook.WebhookID != "nwh_digest" || hook.EventType != payloads.Digest {
			t.Fatalf("webhook job %+v", hook)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(hook.Payload))
		if err != nil {
			t.Fatal(err)
		}
		if err := DigestSchema(t).Validate(doc); err != nil {
			t.Fatalf("digest_event does not fit its schema: %v\n%s", err, hook.Payload)
		}
		var env struct {
			UID     string                 `json:"uid"`
			Created string                 `json:"event_created_timestamp"`
			Payload payloads.DigestPayload `json:"payload"`
		}
		if err := json.Unmarshal(hook.Payload, &env); err != nil {
			t.Fatal(err)
		}
		if env.UID != hook.ID || env.Payload.Period != payloads.NewPeriod(due.Add(-24*time.Hour), due) || len(env.Payload.ProjectsStats) != 2 {
			t.Fatalf("digest_event %s", hook.Payload)
		}
		ann := env.Payload.ProjectsStats[0].AnnotatorStats
		if len(ann) != 1 || ann[0].UserEmail != "ann@example.com" || ann[0].SubmittedLabels != 2 || *ann[0].AvgTimeForAdd != 3000 {
			t.Fatalf("stats %s: want the two submissions in [due-24h, due)", hook.Payload)
		}
		lead := box.to("lead@example.com")[0]
		if !strings.Contains(lead.Subject, "2 labels submitted") || !strings.Contains(lead.HTML, "ann@example.com") ||
			lead.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
			t.Fatalf("email %+v", lead)
		}
		// A minute later nothing is due: the next digest is tomorrow's.
		if rep := run(t, dispatcher(be, q, box, due.Add(time.Minute))); rep != (dispatch.Report{}) || box.total() != 2 {
			t.Fatalf("a run a minute later: %+v, %d emails", rep, box.total())
		}
	})

	t.Run("an ordered webhook's digest_event is an ordered job; a plain webhook's and the Slack post are not", func(t *testing.T) {
		be := newBackend(t)
		ordered := NewNotificationWebhook(t, "nwh_ordered", "https://hooks.example.com/ordered")
		ordered.Ordered = true
		n := NewNotification(t, "tenant-a", "ntf_ordered", "alice", "Daily QA", ordered, NewNotificationWebhook(t, "nwh_plain", "https://hooks.example.com/plain"))
		n.Projects, n.Channels.SlackChannels = []string{"p1"}, []string{"slk_qa"}
		n.Triggers = notifications.Triggers{Digests: []notifications.Digest{{TimesOfDay: []string{"09:00"}, TimeZone: "America/New_York", Period: 24 * time.Hour}}}
		if err := be.Notifications.CreateNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
		plan, err := digest.Plan(n, digest.Schedule{}, due.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if err := be.Schedules.PutSchedule(ctx, plan); err != nil {
			t.Fatal(err)
		}
		q := &recordingQueue{}
		if rep := run(t, dispatcher(be, q, newMailbox(), due.Add(30*time.Second))); rep.Sent != 1 {
			t.Fatalf("report %+v: want one digest sent", rep)
		}
		got := map[string]bool{}
		for _, j := range q.Jobs() {
			got[j.WebhookID] = j.Ordered
		}
		if want := map[string]bool{"nwh_ordered": true, "nwh_plain": false, "slk_qa": false}; !maps.Equal(got, want) {
			t.Fatalf("ordered by target %v, want %v", got, want)
		}
	})

	t.Run("a run that fails between channels is finished by the next, which sends nothing twice", func(t *testing.T) {
		be, _ := setUp(t, false, "p1")
		q, box := &recordingQueue{}, newMailbox()
		box.fail = func(to string, try int) error {
			if to == "qa@example.com" && try == 1 {
				return fmt.Errorf("connection reset: %w", mail.ErrThrottled)
			}
			return nil
		}
		if rep := run(t, dispatcher(be, q, box, due.Add(30*time.Second))); rep.Failed != 1 || rep.Sent != 0 {
			t.Fatalf("first run %+v: want the notification failed", rep)
		}
		first := jobIDs(q)
		if rep := run(t, dispatcher(be, q, box, due.Add(90*time.Second))); rep.Sent != 1 {
			t.Fatalf("second run %+v", rep)
		}
		if len(box.to("lead@example.com")) != 1 || len(box.to("qa@example.com")) != 1 {
			t.Fatalf("emails: lead %d, qa %d; want one each", len(box.to("lead@example.com")), len(box.to("qa@example.com")))
		}
		if all := jobIDs(q); len(first) != 2 || !slices.Equal(all, first) {
			t.Fatalf("jobs %v then %v: the deliveries went out with the first run, once", first, all)
		}
	})

	t.Run("a run that crashes after sending, before recording it, is followed by one that sends nothing again", func(t *testing.T) {
		be, _ := setUp(t, false, "p1")
		q, box := &recordingQueue{}, newMailbox()
		crashing := dispatcher(be, q, box, due.Add(30*time.Second))
		crashing.Schedules = crashBeforeAdvance{be.Schedules}
		if rep := run(t, crashing); rep.Sent != 1 {
			t.Fatalf("the run that crashes: %+v", rep)
		}
		// Its lease holds the schedule until it runs out.
		if rep := run(t, dispatcher(be, q, box, due.Add(time.Minute))); rep.Busy != 1 {
			t.Fatalf("a run while the crashed one's lease holds: %+v", rep)
		}
		if rep := run(t, dispatcher(be, q, box, due.Add(30*time.Second+dispatch.DefaultLease+time.Second))); rep.Sent != 1 {
			t.Fatalf("the run after the lease ran out: %+v", rep)
		}
		if box.total() != 2 || len(q.Jobs()) != 2 {
			t.Fatalf("%d emails, %d jobs: want what the crashed run sent, nothing more", box.total(), len(q.Jobs()))
		}
		if sc, _, err := be.Schedules.GetSchedule(ctx, "tenant-a", "ntf_digest"); err != nil || !sc.NextDue.Equal(digest.NextAt(9, 0, ny, due)) {
			t.Fatalf("schedule %+v, %v: want tomorrow's 09:00", sc, err)
		}
	})

	t.Run("a recipient that keeps failing holds nobody else back, and is given up after a while", func(t *testing.T) {
		be, _ := setUp(t, false, "p1")
		q, box := &recordingQueue{}, newMailbox()
		box.fail = func(to string, try int) error {
			if to == "qa@example.com" {
				return errors.New("SES: MessageRejected")
			}
			return nil
		}
		for _, after := range []time.Duration{30 * time.Second, 10 * time.Minute, time.Hour} {
			if rep := run(t, dispatcher(be, q, box, due.Add(after))); rep.Failed != 1 || rep.Sent != 0 {
				t.Fatalf("run %s after: %+v, want failed and tried again later", after, rep)
			}
		}
		if len(box.to("lead@example.com")) != 1 || len(q.Jobs()) != 2 {
			t.Fatalf("after three runs: %d emails to lead, %d jobs; want one email and one of each delivery", len(box.to("lead@example.com")), len(q.Jobs()))
		}
		if rep := run(t, dispatcher(be, q, box, due.Add(dispatch.DefaultGiveUpAfter+time.Minute))); rep.Abandoned != 1 || rep.Failed != 0 {
			t.Fatalf("the run after the give-up time: %+v", rep)
		}
		sc, _, err := be.Schedules.GetSchedule(ctx, "tenant-a", "ntf_digest")
		if err != nil || !sc.NextDue.Equal(digest.NextAt(9, 0, ny, due)) || len(box.to("lead@example.com")) != 1 || len(q.Jobs()) != 2 {
			t.Fatalf("schedule %+v, %v, lead %d emails, %d jobs: want tomorrow's 09:00 next and nothing sent again", sc, err, len(box.to("lead@example.com")), len(q.Jobs()))
		}
	})

	t.Run("an edit during a run keeps the time of day it adds, and the run's progress", func(t *testing.T) {
		be, n := setUp(t, false, "p1")
		q, box := &recordingQueue{}, newMailbox()
		at := due.Add(30 * time.Second)
		// The API's edit, while the run sends its first email: the schedule, then the notification.
		box.fail = func(to string, try int) error {
			if to != "lead@example.com" || try != 1 {
				return nil
			}
			cur, err := be.Notifications.GetNotification(ctx, "tenant-a", n.ID)
			if err != nil {
				return err
			}
			change := cur
			change.Triggers.Digests = []notifications.Digest{{TimesOfDay: []string{"09:00", "17:00"}, TimeZone: "America/New_York", Period: 24 * time.Hour}}
			prev, _, err := be.Schedules.GetSchedule(ctx, "tenant-a", n.ID)
			if err != nil {
				return err
			}
			plan, err := digest.Plan(change, prev, at)
			if err != nil {
				return err
			}
			if err := be.Schedules.PutSchedule(ctx, plan); err != nil {
				return err
			}
			_, err = be.Notifications.UpdateNotification(ctx, cur.Updated(change, at), cur.Version)
			return err
		}
		if rep := run(t, dispatcher(be, q, box, at)); rep.Sent != 1 || rep.Failed != 0 {
			t.Fatalf("run %+v", rep)
		}
		five := digest.NextAt(17, 0, ny, at)
		sc, _, err := be.Schedules.GetSchedule(ctx, "tenant-a", n.ID)
		if err != nil || sc.LeaseOwner != "" || !sc.NextDue.Equal(five) || len(sc.Slots) != 2 {
			t.Fatalf("schedule %+v, %v: want today's 17:00 next, the sent 09:00 moved to tomorrow, no lease", sc, err)
		}
		if rep := run(t, dispatcher(be, q, box, five.Add(30*time.Second))); rep.Sent != 1 || len(box.to("lead@example.com")) != 2 {
			t.Fatalf("the run at 17:00: %+v, %d emails to lead", rep, len(box.to("lead@example.com")))
		}
	})

	t.Run("skip_empty sends nothing for a quiet period and moves on", func(t *testing.T) {
		be, _ := setUp(t, true, "p-quiet")
		q, box := &recordingQueue{}, newMailbox()
		if rep := run(t, dispatcher(be, q, box, due.Add(30*time.Second))); rep.Skipped != 1 || rep.Sent != 0 || box.total() != 0 || len(q.Jobs()) != 0 {
			t.Fatalf("report %+v, %d emails, %d jobs", rep, box.total(), len(q.Jobs()))
		}
		sc, found, err := be.Schedules.GetSchedule(ctx, "tenant-a", "ntf_digest")
		if err != nil || !found || !sc.NextDue.Equal(digest.NextAt(9, 0, ny, due)) {
			t.Fatalf("schedule %+v, %v, %v: want tomorrow's 09:00", sc, found, err)
		}
	})

	t.Run("an outage sends the latest period once, not one per missed day", func(t *testing.T) {
		be, _ := setUp(t, false, "p1")
		q, box := &recordingQueue{}, newMailbox()
		later := due.Add(50 * time.Hour) // two 09:00s have passed
		if rep := run(t, dispatcher(be, q, box, later)); rep.Sent != 1 || len(box.to("lead@example.com")) != 1 {
			t.Fatalf("report %+v, %d emails to lead", rep, len(box.to("lead@example.com")))
		}
		sc, _, _ := be.Schedules.GetSchedule(ctx, "tenant-a", "ntf_digest")
		if !sc.NextDue.After(later) {
			t.Fatalf("next due %v, want after %v", sc.NextDue, later)
		}
	})
}

// crashBeforeAdvance is a schedule store whose runs die before recording their progress: the
// lease stays until it runs out.
type crashBeforeAdvance struct{ digest.ScheduleStore }

func (crashBeforeAdvance) Advance(context.Context, digest.Schedule, string) (bool, error) {
	return false, errors.New("crashed before recording the run")
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
