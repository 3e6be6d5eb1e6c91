package localqueue_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/infra/localqueue"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
)

// The FIFO contract (tests/contract) runs against this package too, in real time; these tests
// use a test clock for what it leaves out: a group held by a message that is not its head,
// the deduplication interval after a delete, redrive, refusals, the schema of an earlier
// version, waking, and the indexes.

// grouped returns a message of group g for a FIFO queue, deduplicated by its body.
func grouped(g, body string) localqueue.Outgoing {
	return localqueue.Outgoing{Body: []byte(body), GroupID: g, DedupID: body}
}

func bodies(msgs []eventsource.Received) string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Body)
	}
	return strings.Join(out, " ")
}

func retry(t *testing.T, q *localqueue.Queue, wait time.Duration, msgs ...eventsource.Received) {
	t.Helper()
	var rs []delivery.Retry
	for _, m := range msgs {
		rs = append(rs, delivery.Retry{Message: delivery.Message{ID: m.ID, ReceiptHandle: m.ReceiptHandle}, Wait: wait})
	}
	if failed, err := q.RetryLater(context.Background(), rs); err != nil || len(failed) > 0 {
		t.Fatalf("RetryLater: failed %v, %v", failed, err)
	}
}

func send(t *testing.T, q *localqueue.Queue, msgs ...localqueue.Outgoing) {
	t.Helper()
	if err := q.Send(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
}

func orderedJob(i int, webhook string) delivery.Job {
	j := job(i)
	j.WebhookID, j.Ordered = webhook, true
	return j
}

func TestFIFOHandsOutAGroupInSendOrderAndHoldsItWhileOneIsInFlight(t *testing.T) {
	t.Parallel()
	clk := newClock()
	q := newQueue(t, openDB(t), "fifo", localqueue.Options{FIFO: true, Now: clk.Now})
	send(t, q, grouped("a", "a1"), grouped("a", "a2"), grouped("b", "b1"))
	send(t, q, grouped("a", "a3"))

	if got := bodies(receiveNow(t, q, 1)); got != "a1" {
		t.Fatalf("first receive of 1: %q, want a1", got)
	}
	// a1 is in flight: group a waits, b flows.
	b := receiveNow(t, q, 10)
	if got := bodies(b); got != "b1" {
		t.Fatalf("receive while a1 is in flight: %q, want only b1", got)
	}
	if got := receiveNow(t, q, 10); len(got) > 0 {
		t.Fatalf("receive while a1 and b1 are in flight: %q, want nothing", bodies(got))
	}
	// Its visibility timeout ends: a1 comes back first, and the rest of its group after it in
	// the same receive, in send order across the two sends.
	clk.Advance(localqueue.DefaultVisibilityTimeout)
	if err := q.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	again := receiveNow(t, q, 10)
	if got := bodies(again); got != "a1 a2 a3" {
		t.Fatalf("receive after a1's timeout: %q, want a1 a2 a3", got)
	}
	if again[0].ReceiveCount != 2 || again[1].ReceiveCount != 1 {
		t.Fatalf("receive counts %d, %d; want 2, 1", again[0].ReceiveCount, again[1].ReceiveCount)
	}
}

// The processor keeps a failing head in place and puts the rest of its batch back at once; in
// whatever order they come back, the group comes out in send order, and not before its head.
func TestFIFOKeepsSendOrderWhateverOrderMessagesComeBackIn(t *testing.T) {
	t.Parallel()
	clk := newClock()
	q := newQueue(t, openDB(t), "fifo", localqueue.Options{FIFO: true, Now: clk.Now})
	send(t, q, grouped("a", "a1"), grouped("a", "a2"), grouped("a", "a3"))
	msgs := receiveNow(t, q, 10)
	if bodies(msgs) != "a1 a2 a3" {
		t.Fatalf("received %q", bodies(msgs))
	}
	retry(t, q, time.Minute, msgs[0])
	retry(t, q, 0, msgs[2])
	clk.Advance(time.Millisecond)
	retry(t, q, 0, msgs[1])
	if got := receiveNow(t, q, 10); len(got) > 0 {
		t.Fatalf("received %q while the head waits for its retry", bodies(got))
	}
	clk.Advance(time.Minute)
	if got := bodies(receiveNow(t, q, 10)); got != "a1 a2 a3" {
		t.Fatalf("after the head's wait: %q, want a1 a2 a3", got)
	}
}

// Any message of a group in flight holds it, the head or not: here a2 stays hidden after a1,
// handed out with it, is deleted.
func TestFIFOHoldsAGroupWhileAnyOfItIsInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	q := newQueue(t, openDB(t), "fifo", localqueue.Options{FIFO: true, Now: clk.Now})
	send(t, q, grouped("a", "a1"), grouped("a", "a2"))
	msgs := receiveNow(t, q, 10)
	if err := q.Delete(ctx, msgs[:1]); err != nil {
		t.Fatal(err)
	}
	send(t, q, grouped("a", "a3"))
	if got := receiveNow(t, q, 10); len(got) > 0 {
		t.Fatalf("received %q while a2 is in flight", bodies(got))
	}
	if err := q.Delete(ctx, msgs[1:]); err != nil {
		t.Fatal(err)
	}
	if got := bodies(receiveNow(t, q, 10)); got != "a3" {
		t.Fatalf("after a2 is deleted: %q, want a3", got)
	}
}

func TestFIFODeduplicatesWithinFiveMinutesOfTheFirstSend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	db := openDB(t)
	q := newQueue(t, db, "fifo", localqueue.Options{FIFO: true, Now: clk.Now})
	other := newQueue(t, db, "other", localqueue.Options{FIFO: true, Now: clk.Now})
	send(t, q, grouped("a", "a1"), grouped("a", "a1"))
	clk.Advance(time.Minute)
	send(t, q, grouped("a", "a1"))
	send(t, other, grouped("a", "a1")) // another queue has its own ids
	msgs := receiveNow(t, q, 10)
	if bodies(msgs) != "a1" {
		t.Fatalf("received %q, want a1 once", bodies(msgs))
	}
	if err := q.Delete(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	// Deleted, and still within the interval of its first send: not queued again.
	clk.Advance(4*time.Minute - time.Second)
	send(t, q, grouped("a", "a1"))
	if got := receiveNow(t, q, 10); len(got) > 0 {
		t.Fatalf("a duplicate sent 4:59 after the first was queued: %q", bodies(got))
	}
	clk.Advance(time.Second)
	send(t, q, grouped("a", "a1"))
	if got := bodies(receiveNow(t, q, 10)); got != "a1" {
		t.Fatalf("sent 5 minutes after the first: %q, want it queued", got)
	}
	if got := bodies(receiveNow(t, other, 10)); got != "a1" {
		t.Fatalf("the other queue holds %q, want its own a1", got)
	}
	// Expire forgets the ids of over five minutes ago, and only those.
	var n int
	if _, err := q.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM queue_dedup WHERE queue = 'fifo'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("deduplication ids kept: %d, %v; want the one sent just now", n, err)
	}
	clk.Advance(localqueue.DedupInterval)
	if _, err := q.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM queue_dedup WHERE queue = 'fifo'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("deduplication ids kept after the interval: %d, %v", n, err)
	}
}

func TestFIFORefusesWhatSQSRefuses(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	fifo := newQueue(t, db, "fifo", localqueue.Options{FIFO: true})
	std := newQueue(t, db, "std", localqueue.Options{})
	for _, tc := range []struct {
		name string
		q    *localqueue.Queue
		m    localqueue.Outgoing
		want string
	}{
		{"no group", fifo, localqueue.Outgoing{Body: []byte("x"), DedupID: "x"}, "message group id"},
		{"no deduplication id", fifo, localqueue.Outgoing{Body: []byte("x"), GroupID: "g"}, "deduplication id"},
		{"a delay", fifo, localqueue.Outgoing{Body: []byte("x"), GroupID: "g", DedupID: "x", Delay: time.Second}, "FIFO"},
		{"a group id of 129 characters", fifo, localqueue.Outgoing{Body: []byte("x"), GroupID: strings.Repeat("g", 129), DedupID: "x"}, "message group id"},
		{"a space in a group id", fifo, localqueue.Outgoing{Body: []byte("x"), GroupID: "a b", DedupID: "x"}, "message group id"},
		{"a group on a standard queue", std, localqueue.Outgoing{Body: []byte("x"), GroupID: "g"}, "standard queue"},
		{"a deduplication id on a standard queue", std, localqueue.Outgoing{Body: []byte("x"), DedupID: "x"}, "standard queue"},
	} {
		err := tc.q.Send(context.Background(), []localqueue.Outgoing{tc.m})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.want)
		}
	}
	if err := fifo.Resend(context.Background(), []delivery.Resend{{Job: orderedJob(1, "w"), Delay: time.Second}}); err == nil {
		t.Error("Resend with a delay on a FIFO queue was accepted")
	}
	if got := receiveNow(t, fifo, 10); len(got) > 0 {
		t.Fatalf("refused messages were queued: %q", bodies(got))
	}
}

// Scenario: the router enqueues for a plain and an ordered webhook through the standard
// queue; the ordered jobs reach the FIFO queue in their webhook's group, deduplicated by job id,
// and a standard queue without an ordered queue refuses them rather than lose their order.
func TestWithOrderedRoutesOrderedJobsToTheFIFOQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	std := newQueue(t, db, "std", localqueue.Options{})
	fifo := newQueue(t, db, "fifo", localqueue.Options{FIFO: true})
	routed := std.WithOrdered(fifo)
	o1, o2 := orderedJob(1, "ordered"), orderedJob(2, "ordered")
	other := orderedJob(3, "another")
	if err := routed.Enqueue(ctx, []delivery.Job{job(10), o1, job(11), o2}); err != nil {
		t.Fatal(err)
	}
	if err := routed.Resend(ctx, []delivery.Resend{{Job: other}, {Job: o1}}); err != nil {
		t.Fatal(err)
	}
	got := receiveNow(t, fifo, 10)
	var ids []string
	for _, m := range got {
		j, err := delivery.DecodeJob([]byte(m.Body))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	if strings.Join(ids, " ") != "d-0001 d-0002 d-0003" {
		t.Fatalf("FIFO queue holds %v, want d-0001 d-0002 d-0003 (the resent d-0001 deduplicated)", ids)
	}
	if plain := receiveNow(t, std, 10); len(plain) != 2 {
		t.Fatalf("standard queue holds %q, want the 2 undelayed plain jobs", bodies(plain))
	}

	// Refused, whole: the plain job of the call is not sent either.
	o3 := orderedJob(4, "third")
	for name, send := range map[string]func() error{
		"Enqueue": func() error { return std.Enqueue(ctx, []delivery.Job{job(20), o3}) },
		"Resend":  func() error { return std.Resend(ctx, []delivery.Resend{{Job: job(20)}, {Job: o3}}) },
		"Enqueue to a standard ordered queue": func() error {
			return std.WithOrdered(newQueue(t, db, "not-fifo", localqueue.Options{})).Enqueue(ctx, []delivery.Job{o3})
		},
	} {
		if err := send(); err == nil || !strings.Contains(err.Error(), "ordered") {
			t.Errorf("%s of an ordered job: %v, want an error naming the ordered queue", name, err)
		}
	}
	if err := routed.Resend(ctx, []delivery.Resend{{Job: job(20)}, {Job: o3, Delay: time.Second}}); err == nil {
		t.Error("Resend of an ordered job with a delay was accepted")
	}
	if left := receiveNow(t, std, 10); len(left) > 0 {
		t.Fatalf("standard queue holds %q after the refusals, want nothing", bodies(left))
	}
	if left := receiveNow(t, fifo, 10); len(left) > 0 {
		t.Fatalf("FIFO queue holds %q after the refusals, want nothing", bodies(left))
	}
}

func TestFIFODeadLettersInTheJobsGroupOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	q := newQueue(t, db, "fifo", localqueue.Options{FIFO: true, DeadLetter: "fifo-dlq"})
	dlq := newQueue(t, db, "fifo-dlq", localqueue.Options{FIFO: true})
	body, _ := json.Marshal(orderedJob(1, "w"))
	junk := []byte(`{"not": "a job"`)
	for _, b := range [][]byte{body, junk, body} {
		if err := q.DeadLetter(ctx, b, delivery.ReasonAttemptsExhausted, delivery.ClassTimeout); err != nil {
			t.Fatal(err)
		}
	}
	got := receiveNow(t, dlq, 10)
	if len(got) != 2 || got[0].Body != string(body) || got[1].Body != string(junk) {
		t.Fatalf("dead-letter queue holds %q, want the job once and the junk", bodies(got))
	}
	if got[0].Attributes[localqueue.AttrReason] != delivery.ReasonAttemptsExhausted {
		t.Fatalf("attributes %v", got[0].Attributes)
	}
	var group, dedup string
	if err := db.QueryRow(`SELECT group_id FROM queue_messages WHERE id = ?`, got[0].ID).Scan(&group); err != nil {
		t.Fatal(err)
	}
	if want := orderedJob(1, "w").OrderGroup(); group != want {
		t.Fatalf("dead letter in group %s, want the job's %s", group, want)
	}
	if err := db.QueryRow(`SELECT group_id FROM queue_messages WHERE id = ?`, got[1].ID).Scan(&group); err != nil || group != "undecodable" {
		t.Fatalf("junk in group %q, %v; want undecodable", group, err)
	}
	sum := sha256.Sum256(body)
	if err := db.QueryRow(`SELECT dedup_id FROM queue_dedup WHERE queue = 'fifo-dlq' AND dedup_id = ?`, hex.EncodeToString(sum[:])).Scan(&dedup); err != nil {
		t.Fatalf("the job's digest is not the dead letter's deduplication id: %v", err)
	}
}

// Scenario: a message that crashes every receive is moved to the FIFO dead-letter queue by the
// receive after its last, which hands out the next of its group in the same call.
func TestFIFORedriveFreesTheGroup(t *testing.T) {
	t.Parallel()
	clk := newClock()
	db := openDB(t)
	q := newQueue(t, db, "fifo", localqueue.Options{FIFO: true, MaxReceiveCount: 2, DeadLetter: "fifo-dlq", Now: clk.Now})
	dlq := newQueue(t, db, "fifo-dlq", localqueue.Options{FIFO: true, Now: clk.Now})
	send(t, q, grouped("a", "poison"), grouped("a", "a2"))
	for i := range 2 {
		got := receiveNow(t, q, 1)
		if bodies(got) != "poison" {
			t.Fatalf("receive %d: %q, want poison", i+1, bodies(got))
		}
		retry(t, q, 0, got...)
	}
	if got := bodies(receiveNow(t, q, 10)); got != "a2" {
		t.Fatalf("receive after the last: %q, want a2", got)
	}
	if got := receiveNow(t, dlq, 10); bodies(got) != "poison" || got[0].ReceiveCount != 3 {
		t.Fatalf("dead-letter queue: %+v", got)
	}
}

func TestFIFOAWaitingReceiverWakesWhenTheMessageInFlightIsDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueue(t, openDB(t), "fifo", localqueue.Options{FIFO: true, VisibilityTimeout: time.Hour})
	send(t, q, grouped("a", "a1"))
	head := receiveNow(t, q, 1)
	send(t, q, grouped("a", "a2"))
	type result struct {
		msgs []eventsource.Received
		err  error
		at   time.Time
	}
	done := make(chan result, 1)
	go func() {
		msgs, err := q.Receive(ctx, 10, 10*time.Second)
		done <- result{msgs, err, time.Now()}
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("the receive returned %q, %v while a1 was in flight", bodies(r.msgs), r.err)
	default:
	}
	deleted := time.Now()
	if err := q.Delete(ctx, head); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || bodies(r.msgs) != "a2" {
		t.Fatalf("waiting receive: %q, %v; want a2", bodies(r.msgs), r.err)
	}
	if took := r.at.Sub(deleted); took > time.Second {
		t.Fatalf("the waiting receive returned %s after the delete, want milliseconds", took)
	}
}

// A database file of the version before FIFO queues opens and keeps its messages; its table
// gains the group column and FIFO queues work in it.
func TestAnEarlierDatabaseOpensAndGainsFIFOQueues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlitedb.Open(ctx, dir, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The schema as it was, with one message waiting.
	for _, stmt := range []string{
		`CREATE TABLE queue_messages (
			seq INTEGER PRIMARY KEY, queue TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL,
			attributes TEXT CHECK (attributes IS NULL OR json_valid(attributes)), sent_at INTEGER NOT NULL,
			visible_at INTEGER NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT,
			leased INTEGER NOT NULL DEFAULT 0 CHECK (leased IN (0, 1)), received_at INTEGER NOT NULL DEFAULT 0) STRICT`,
		`CREATE INDEX queue_messages_by_visibility ON queue_messages (queue, visible_at)`,
		`CREATE UNIQUE INDEX queue_messages_by_receipt ON queue_messages (receipt) WHERE receipt IS NOT NULL`,
		`CREATE INDEX queue_messages_by_age ON queue_messages (queue, sent_at)`,
		`INSERT INTO queue_messages (queue, id, body, sent_at, visible_at) VALUES ('work', 'm-old', CAST('from before' AS BLOB), 1, 1)`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	for range 2 { // and again, as every start does
		db, err = sqlitedb.Open(ctx, dir, sqlitedb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		newQueue(t, db, "work", localqueue.Options{})
		newQueue(t, db, "fifo", localqueue.Options{FIFO: true})
		db.Close()
	}
	db = openDBAt(t, dir)
	work := newQueue(t, db, "work", localqueue.Options{})
	if got := receiveNow(t, work, 10); len(got) != 1 || got[0].ID != "m-old" || got[0].Body != "from before" {
		t.Fatalf("the earlier message: %+v", got)
	}
	fifo := newQueue(t, db, "fifo", localqueue.Options{FIFO: true})
	send(t, fifo, grouped("a", "a1"), grouped("a", "a2"))
	if got := bodies(receiveNow(t, fifo, 10)); got != "a1 a2" {
		t.Fatalf("FIFO queue in the earlier file: %q", got)
	}
}

func openDBAt(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), dir, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A FIFO receive's lookups must use the group indexes: never a scan of a group or a sort.
func TestFIFOQueriesUseTheGroupIndexes(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	newQueue(t, db, "fifo", localqueue.Options{FIFO: true})
	for query, index := range map[string]string{
		`SELECT MAX(visible_at) FROM queue_messages WHERE queue = ? AND group_id = ?`: "queue_messages_by_group_visibility",
		`SELECT seq, id, body, attributes, sent_at, receive_count FROM queue_messages
			WHERE queue = ? AND group_id = ? AND seq > ? ORDER BY seq LIMIT ?`: "queue_messages_by_group ",
		`SELECT seq, group_id FROM queue_messages WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq`: "queue_messages_by_visibility",
		`SELECT MIN(visible_at) FROM queue_messages WHERE queue = ? AND visible_at > ?`:                         "queue_messages_by_visibility",
	} {
		args := []any{"fifo", "g", 0, 10}[:strings.Count(query, "?")]
		plan, err := sqlitedb.QueryPlan(context.Background(), db, query, args...)
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(plan, "; ") + " "
		if !strings.Contains(joined, index) || strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("plan %q for %s: want %s and no sort", joined, query, index)
		}
	}
}

// Scenario: four pollers share a FIFO queue of two groups, so that two of them at least look
// at a group another holds. Each message is handed out once, and each group's messages in
// send order: a poller records what it got before deleting it (a moment later, as a handler
// would), and no other poller can have the group's next message before that delete.
func TestFIFOConcurrentReceiversKeepEachGroupInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueue(t, openDB(t), "fifo", localqueue.Options{FIFO: true})
	const groups, perGroup = 2, 60
	for i := range perGroup {
		var msgs []localqueue.Outgoing
		for g := range groups {
			msgs = append(msgs, grouped(fmt.Sprintf("g%d", g), fmt.Sprintf("g%d-%03d", g, i)))
		}
		send(t, q, msgs...)
	}
	var mu sync.Mutex
	got := map[string][]string{}
	total := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				mu.Lock()
				done := total >= groups*perGroup
				mu.Unlock()
				if done {
					return
				}
				msgs, err := q.Receive(ctx, 3, 100*time.Millisecond)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, m := range msgs {
					g, _, _ := strings.Cut(m.Body, "-")
					got[g] = append(got[g], m.Body)
					total++
				}
				mu.Unlock()
				time.Sleep(time.Millisecond)
				if err := q.Delete(ctx, msgs); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for g := range groups {
		name := fmt.Sprintf("g%d", g)
		if len(got[name]) != perGroup || !slices.IsSorted(got[name]) {
			t.Fatalf("group %s received as %v, want its %d messages once each, in send order", name, got[name], perGroup)
		}
	}
}
