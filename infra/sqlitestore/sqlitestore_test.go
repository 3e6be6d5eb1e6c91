package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"database/sql"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// The contract suite (tests/contract) covers the behaviour shared with DynamoDB; these tests
// cover what only the embedded store has: its TTL sweep, SQLite's single writer, its file.

var base = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func openDB(t testing.TB, dir string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), dir, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newStore(t testing.TB, db *sql.DB, opts Options) *Store {
	t.Helper()
	s, err := New(context.Background(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func attempt(tenant, webhook, deliveryID string, n int, at time.Time) delivery.Attempt {
	return delivery.Attempt{
		TenantID: tenant, WebhookID: webhook, DeliveryID: deliveryID, EventType: "task_submitted_event",
		Number: n, At: at, StatusCode: 503, Latency: 1500 * time.Millisecond, ErrorClass: delivery.ClassHTTP5xx,
		ResponseSnippet: "busy", Outcome: delivery.OutcomeRetrying, NextAttemptAt: at.Add(5 * time.Minute),
	}
}

func countAttempts(t testing.TB, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM attempts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSweepDeletesOnlyExpiredAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	s := newStore(t, db, Options{AttemptRetention: time.Hour})

	// Scenario: one attempt at base and one half an hour later, kept for an hour each. A sweep
	// at the first one's expiry keeps it (DynamoDB's TTL deletes only what is past expires_at),
	// a sweep a second later deletes it and only it.
	if err := s.RecordAttempts(ctx, []delivery.Attempt{
		attempt("t", "w", "d-old", 1, base),
		attempt("t", "w", "d-new", 1, base.Add(30*time.Minute)),
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		now         time.Time
		deleted     int
		oldLeft     int
		newLeft     int
		description string
	}{
		{base.Add(59 * time.Minute), 0, 1, 1, "before expiry"},
		{base.Add(time.Hour), 0, 1, 1, "at expires_at"},
		{base.Add(time.Hour + time.Second), 1, 0, 1, "a second past the first expiry"},
		{base.Add(2 * time.Hour), 1, 0, 0, "past both"},
	} {
		n, err := s.Sweep(ctx, tc.now)
		if err != nil || n != tc.deleted {
			t.Fatalf("%s: swept %d, %v; want %d", tc.description, n, err, tc.deleted)
		}
		for id, want := range map[string]int{"d-old": tc.oldLeft, "d-new": tc.newLeft} {
			got, err := s.AttemptsOfDelivery(ctx, "t", id)
			if err != nil || len(got) != want {
				t.Fatalf("%s: %d attempts of %s left, %v; want %d", tc.description, len(got), id, err, want)
			}
		}
	}
}

func TestSweepDeletesMoreThanOneBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	s := newStore(t, db, Options{}) // the default 30 days

	const expired = 2*sweepBatch + 500
	var batch []delivery.Attempt
	for i := range expired {
		batch = append(batch, attempt("t", "w", fmt.Sprintf("d-%05d", i), 1, base.Add(time.Duration(i)*time.Millisecond)))
	}
	batch = append(batch, attempt("t", "w", "d-recent", 1, base.Add(29*24*time.Hour)))
	if err := s.RecordAttempts(ctx, batch); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(ctx, base.Add(DefaultAttemptRetention+time.Hour))
	if err != nil || n != expired {
		t.Fatalf("swept %d, %v; want %d", n, err, expired)
	}
	if left := countAttempts(t, db); left != 1 {
		t.Fatalf("%d attempts left, want the recent one", left)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Sweep(cancelled, base.Add(100*DefaultAttemptRetention)); !errors.Is(err, context.Canceled) {
		t.Fatalf("sweep with a cancelled context: %v, want context.Canceled", err)
	}
}

// SQLite has one writer at a time. The DSN's busy_timeout (5 s) and _txlock=immediate make
// writers queue for the lock instead of failing; without _txlock=immediate a deferred
// transaction that upgrades to a write fails with SQLITE_BUSY at once, whatever the timeout.
func TestConcurrentRecordAttemptsNeverSeeBusy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	s := newStore(t, db, Options{})

	const writers, batches, perBatch = 8, 25, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches+1)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				var batch []delivery.Attempt
				for i := range perBatch {
					batch = append(batch, attempt("t", fmt.Sprintf("wh_%d", w), fmt.Sprintf("d-%d-%d", w, b), i+1,
						base.Add(time.Duration(b*perBatch+i)*time.Second)))
				}
				if err := s.RecordAttempts(ctx, batch); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, b, err)
				}
			}
		})
	}
	// A reader alongside: in WAL mode readers never wait for the writer.
	stop := make(chan struct{})
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.AttemptsOfDelivery(ctx, "t", "d-0-0"); err != nil {
				errs <- fmt.Errorf("reader: %w", err)
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	reader.Wait()
	close(errs)
	for err := range errs {
		if strings.Contains(err.Error(), "SQLITE_BUSY") || strings.Contains(err.Error(), "locked") {
			t.Errorf("busy surfaced: %v", err)
		} else {
			t.Error(err)
		}
	}
	if n := countAttempts(t, db); n != writers*batches*perBatch {
		t.Fatalf("%d attempts stored, want %d", n, writers*batches*perBatch)
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	secret := "whsec_" + strings.Repeat("A", 43)
	w := stagehooks.Webhook{
		ID: "wh_1", TenantID: "tenant-a", OwnerID: "user-1", ProjectHash: "proj-1", StageUUID: "stage-1",
		StageType: stagehooks.StageComplete, URL: "https://a.example/hook", Secrets: []string{secret, secret + "B"},
		Enabled: true, Version: 1, CreatedAt: base, UpdatedAt: base.Add(time.Nanosecond),
	}
	a := attempt("tenant-a", "wh_1", "d-1", 1, base.Add(123456789*time.Nanosecond))

	db, err := sqlitedb.Open(ctx, dir, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempts(ctx, []delivery.Attempt{a}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// New runs the migration again on the existing tables: it must be a no-op.
	s = newStore(t, openDB(t, dir), Options{})
	got, err := s.GetWebhook(ctx, "tenant-a", "wh_1")
	if err != nil || fmt.Sprint(got) != fmt.Sprint(w) {
		t.Fatalf("webhook after reopen: %+v, %v\nwant %+v", got, err, w)
	}
	attempts, err := s.AttemptsOfDelivery(ctx, "tenant-a", "d-1")
	if err != nil || len(attempts) != 1 || fmt.Sprint(attempts[0]) != fmt.Sprint(a) {
		t.Fatalf("attempts after reopen: %+v, %v\nwant %+v", attempts, err, a)
	}
}

// The DynamoDB adapter converts times to UTC, keeps latency in whole milliseconds and a zero
// NextAttemptAt as absent; the embedded store must read back exactly the same.
func TestAttemptsReadBackAsDynamoDBDoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, openDB(t, t.TempDir()), Options{})
	paris := time.FixedZone("CET", 3600)
	a := attempt("t", "w", "d-1", 1, time.Date(2026, 11, 28, 13, 0, 0, 7, paris))
	a.Latency = 1500*time.Millisecond + 999*time.Microsecond
	a.NextAttemptAt = time.Time{}
	a.ResponseSnippet = "not UTF-8: \xff\xfe, a NUL: \x00, quotes: ' \""
	if err := s.RecordAttempts(ctx, []delivery.Attempt{a}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AttemptsOfDelivery(ctx, "t", "d-1")
	if err != nil || len(got) != 1 {
		t.Fatalf("%+v, %v", got, err)
	}
	want := a
	want.At, want.Latency = a.At.UTC(), 1500*time.Millisecond
	if fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Fatalf("got  %+v\nwant %+v", got[0], want)
	}

	// A record with the same key replaces the first, as a DynamoDB PutItem does.
	a.Outcome, a.StatusCode = delivery.OutcomeSucceeded, 200
	if err := s.RecordAttempts(ctx, []delivery.Attempt{a}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AttemptsOfDelivery(ctx, "t", "d-1"); len(got) != 1 || got[0].Outcome != delivery.OutcomeSucceeded {
		t.Fatalf("after rewriting the same attempt: %+v", got)
	}
}

func TestUnstorableTimesAreRefusedBeforeWriting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	s := newStore(t, db, Options{})
	ok := attempt("t", "w", "d-1", 1, base)
	far := attempt("t", "w", "d-1", 2, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.RecordAttempts(ctx, []delivery.Attempt{ok, far}); err == nil {
		t.Fatal("an attempt in the year 10000 was accepted")
	}
	if n := countAttempts(t, db); n != 0 {
		t.Fatalf("%d attempts written from a refused batch", n)
	}
}

func TestDisableStampsUpdatedAt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, openDB(t, t.TempDir()), Options{})
	later := base.Add(time.Hour + 42*time.Nanosecond)
	s.now = func() time.Time { return later }
	w := stagehooks.Webhook{
		ID: "wh_1", TenantID: "t", OwnerID: "o", ProjectHash: "p", StageUUID: "s", StageType: stagehooks.StageAnnotate,
		URL: "https://a.example/", Secrets: []string{"whsec_x"}, Enabled: true, CreatedAt: base, UpdatedAt: base,
	}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableWebhook(ctx, delivery.EndpointRef{TenantID: "t", WebhookID: "wh_1"}, "receiver answered 410 Gone"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetWebhook(ctx, "t", "wh_1")
	if err != nil || got.Enabled || got.DisabledReason != "receiver answered 410 Gone" || !got.UpdatedAt.Equal(later) || !got.CreatedAt.Equal(base) {
		t.Fatalf("after disable: %+v, %v", got, err)
	}
}

// The lookups on the delivery and routing paths must stay index range scans: a full scan would
// make them cost the whole table, which grows with every attempt for 30 days.
func TestQueriesUseTheirIndexes(t *testing.T) {
	t.Parallel()
	db := openDB(t, t.TempDir())
	newStore(t, db, Options{})
	for _, tc := range []struct {
		query string
		args  []any
		want  string
	}{
		{stageTargetsSQL, []any{"t", "p", "s"},
			"SEARCH webhooks USING COVERING INDEX webhooks_by_tenant_stage (tenant_id=? AND project_hash=? AND stage_uuid=?)"},
		{subscriptionsSQL, []any{"t", "p"}, "SEARCH p USING PRIMARY KEY (tenant_id=? AND project_hash=?)"},
		{endpointsSQL, []any{`[["t","w"]]`}, "SEARCH w USING INDEX sqlite_autoindex_webhooks_1 (tenant_id=? AND id=?)"},
		{attemptsOfDeliveryByTimeSQL, []any{"t", "d"}, "SEARCH attempts USING INDEX attempts_by_delivery (tenant_id=? AND delivery_id=?)"},
		{sweepSQL, []any{int64(0), sweepBatch}, "SEARCH attempts USING COVERING INDEX attempts_by_expiry (expires_at<?)"},
	} {
		plan, err := sqlitedb.QueryPlan(context.Background(), db, tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(plan, "\n"), tc.want) {
			t.Errorf("plan of %s:\n%s\nwant %s", tc.query, strings.Join(plan, "\n"), tc.want)
		}
	}
}

// TestADataDirectoryFromAnEarlierReleaseKeepsWorking: tables created before a column was added
// gain it at start, and what they held reads back with the column's default.
func TestADataDirectoryFromAnEarlierReleaseKeepsWorking(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	for _, stmt := range []string{
		`CREATE TABLE attempts (tenant_id TEXT NOT NULL, webhook_id TEXT NOT NULL, at TEXT NOT NULL, delivery_id TEXT NOT NULL,
			attempt INTEGER NOT NULL, event_type TEXT NOT NULL, status_code INTEGER NOT NULL, latency_ms INTEGER NOT NULL,
			error_class TEXT NOT NULL DEFAULT '', response_snippet TEXT NOT NULL DEFAULT '', outcome TEXT NOT NULL,
			next_attempt_at TEXT, expires_at INTEGER NOT NULL, payload BLOB,
			PRIMARY KEY (tenant_id, webhook_id, at, delivery_id, attempt)) STRICT`,
		`INSERT INTO attempts VALUES ('tenant-a', 'wh_1', '2026-11-28T12:00:00.000000000Z', 'd-old', 1, 'task_submitted_event',
			200, 12, '', '', 'succeeded', NULL, 4102444800, NULL)`,
		`CREATE TABLE slack_channels (tenant_id TEXT NOT NULL, owner_id TEXT NOT NULL, id TEXT NOT NULL, team_id TEXT NOT NULL,
			team_name TEXT NOT NULL DEFAULT '', channel_id TEXT NOT NULL, channel_name TEXT NOT NULL DEFAULT '',
			webhook_url TEXT NOT NULL, configuration_url TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL,
			PRIMARY KEY (tenant_id, owner_id, id)) STRICT`,
		`INSERT INTO slack_channels VALUES ('tenant-a', 'user-1', 'slk_1', 'T0', 'Acme', 'C0', '#alerts',
			'https://hooks.slack.com/services/T0/B0/x', '', '2026-11-28T12:00:00Z')`,
		`CREATE TABLE mail_lines (tenant_id TEXT NOT NULL, address TEXT NOT NULL, id TEXT NOT NULL,
			notification_id TEXT NOT NULL, notification_title TEXT NOT NULL, project_hash TEXT NOT NULL,
			event_type TEXT NOT NULL, text TEXT NOT NULL, occurred_at TEXT NOT NULL, sent_at INTEGER, expires_at INTEGER,
			PRIMARY KEY (tenant_id, address, id)) STRICT`,
		`INSERT INTO mail_lines VALUES ('tenant-a', 'qa@example.com', 'l-old', 'ntf_1', 'QA', 'proj-1',
			'task_submitted', 'A task was submitted.', '2026-11-28T12:00:00.000000000Z', NULL, NULL)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	s := newStore(t, db, Options{})
	got, err := s.AttemptsOfDelivery(ctx, "tenant-a", "d-old")
	if err != nil || len(got) != 1 || got[0].Kind != delivery.KindWebhook {
		t.Fatalf("old attempt %+v, %v", got, err)
	}
	channels, err := NewSlackChannels(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer channels.Close()
	chs, err := channels.GetChannels(ctx, "tenant-a", "user-1", []string{"slk_1"})
	if err != nil || chs["slk_1"].ChannelName != "#alerts" || chs["slk_1"].BrokenReason != "" {
		t.Fatalf("old channel %+v, %v", chs, err)
	}
	if err := channels.MarkBroken(ctx, "tenant-a", "user-1", "slk_1", "channel_not_found", base); err != nil {
		t.Fatalf("mark an old channel broken: %v", err)
	}
	// A line stored before Herald kept its time of adding reads back without one, which the
	// mailer never gives up.
	lines, err := NewMailLines(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer lines.Close()
	old, err := lines.PendingLines(ctx, mailbatch.Recipient{TenantID: "tenant-a", Address: "qa@example.com"}, 10)
	if err != nil || len(old) != 1 || old[0].ID != "l-old" || !old[0].AddedAt.IsZero() {
		t.Fatalf("old email line %+v, %v", old, err)
	}
	// A second start finds the columns there and changes nothing.
	newStore(t, db, Options{})
	again, err := NewMailLines(ctx, db)
	if err != nil {
		t.Fatalf("second start of the email lines: %v", err)
	}
	again.Close()
}
