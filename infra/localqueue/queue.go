// Package localqueue is the single-machine runtime's stand-in for Amazon SQS: durable named
// queues in the runtime's one SQLite database (infra/sqlitedb), with SQS's semantics where
// Herald relies on them. A received message is hidden for the visibility timeout and comes
// back if it is not deleted; every receive counts and gets a fresh receipt handle; visibility
// can be changed without counting a receive; a message received MaxReceiveCount times is moved
// to the dead-letter queue by the next receive that would hand it out; delays are capped at
// SQS's 15 minutes. It implements the same interfaces as infra/sqsqueue and passes the same
// contract suite (tests/contract), so the domain and the Lambda handlers cannot tell them
// apart.
//
// All named queues share one table, queue_messages, with two indexes:
//
//	queue_messages_by_visibility (queue, visible_at [, seq])
//	                 Receive reads a range from the start of its queue's visible messages,
//	                 LIMIT max, so it costs O(log n + max) however many messages wait, are
//	                 delayed or are in flight (100,000 delayed ones do not slow it down)
//	queue_messages_by_receipt (receipt)
//	                 Delete and RetryLater find a message by its latest receipt handle only
//
// Times are INTEGER Unix microseconds. A message is committed before Send, Enqueue or Requeue
// returns, so a killed process loses nothing it was told was sent (WAL; with sqlitedb's
// default synchronous=FULL a power cut loses nothing either). Writes go through sqlitedb's
// group commit, several callers' in one transaction. A receive or a delete is committed before
// it returns too, but with FULL it is synced by the next synced commit only
// (sqlitedb.WriteUnsynced): a power cut may undo it, and then the message comes back, as a
// lost receive or delete brings it back on SQS.
//
// Long polls are woken in-process, never by a timer: a commit that makes a message visible
// wakes the receivers waiting on its queue, and a waiting receiver also wakes when the earliest
// hidden or delayed message of its queue becomes visible. A waiting receiver holds a message
// one commit and one indexed query after it is sent (about 2 ms p50, 10 ms p99 on a 2-core
// machine; the single-machine target is 50 ms p99 from event to receiver). Another process
// writing the same file does not wake this one's receivers: they see its messages when their
// wait, or the visibility time they wait for, ends.
//
// # FIFO queues
//
// A queue opened with Options.FIFO is an SQS FIFO queue: every message belongs to a message
// group (Outgoing.GroupID), a group's messages are handed out in send order (seq), and none of
// a group while another of it is in flight (received, neither deleted nor visible again); a
// receive may hand out several consecutive messages of one group, as SQS does. A message whose
// DedupID the queue was sent within the last DedupInterval is accepted and not queued again,
// even when the first was deleted since (SQS's deduplication interval, queue scope: Herald's
// ids are per endpoint, so the template's messageGroup scope dedups the same). A FIFO queue
// refuses per-message delays, as SQS does, so on it a message is hidden (visible_at ahead of
// now) only while it is in flight. Two more indexes hold FIFO messages only (partial, WHERE
// group_id IS NOT NULL, so a standard queue's writes never touch them), and one table keeps
// the deduplication ids:
//
//	queue_messages_by_group (queue, group_id, seq)
//	                 a group's next messages, in send order: O(log n + taken)
//	queue_messages_by_group_visibility (queue, group_id, visible_at)
//	                 whether a group has a message in flight: MAX(visible_at), O(log n)
//	queue_dedup (queue, dedup_id) -> sent_at
//	                 the ids of the last DedupInterval; Expire deletes older ones
//
// A FIFO receive walks the visibility index as a standard one does, and looks each group it
// meets up once (the two group indexes). The messages of a group held by one in flight are
// visible yet cannot be handed out, so the walk steps over them one by one: a receive costs
// O(log n + max + g·log n + b), where g is the groups it looks at and b the visible messages of
// held groups ahead of the first it can hand out, about 0.9 µs each. A webhook whose failing
// head holds back 10,000 jobs adds about 9 ms to every receive of the queue (2-core machine,
// BenchmarkFIFOReceiveBehindAHeldGroup), until its head is delivered or dead-lettered. A
// receive that finds nothing to hand out waits for a wake or for the earliest message in
// flight to come back; it never polls. Deleting a FIFO message wakes the queue's waiting
// receivers too, since it may free its group.
package localqueue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// Message attributes set on dead-lettered jobs. They are infra/sqsqueue's AttrReason and
// AttrErrorClass by value (not imported, so the embedded runtime links no AWS SDK): an
// operator reads a dead-letter queue the same way on either runtime.
const (
	AttrReason     = "herald-reason"
	AttrErrorClass = "herald-error-class"
)

// DefaultVisibilityTimeout is SQS's default.
const DefaultVisibilityTimeout = 30 * time.Second

// MaxDelay is SQS's DelaySeconds maximum (15 min).
const MaxDelay = 15 * time.Minute

// MaxMessageBytes is SQS's largest message body, 1 MiB: the embedded queue refuses what SQS
// would, so that a job too large for AWS fails here too.
const MaxMessageBytes = 1 << 20

// maxVisibility is SQS's longest visibility timeout (12 h), counted from a message's receive.
const maxVisibility = delivery.MaxVisibility

// Options shape a queue.
type Options struct {
	// VisibilityTimeout hides a received message for this long; zero means
	// DefaultVisibilityTimeout. At most 12 h, as on SQS.
	VisibilityTimeout time.Duration
	// MaxReceiveCount is the redrive policy: once a message has been received this many times
	// and becomes visible again, the next receive moves it to DeadLetter instead of handing it
	// out. Zero means no redrive. As on SQS, a redrive policy needs a dead-letter queue.
	MaxReceiveCount int
	// DeadLetter names the dead-letter queue, in the same database. DeadLetter() and redrive
	// send there.
	DeadLetter string
	// Retention is how long a message is kept after it was sent (MessageRetentionPeriod):
	// Expire deletes older ones, received or not, as SQS does. Zero means SQS's default of
	// 4 days.
	Retention time.Duration
	// FIFO makes it a FIFO queue (see the package doc): every message needs a GroupID and a
	// DedupID, and none may be delayed. Its dead-letter queue should be a FIFO queue too, as
	// SQS requires.
	FIFO bool
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// DefaultRetention is SQS's default MessageRetentionPeriod.
const DefaultRetention = 4 * 24 * time.Hour

// Outgoing is one message to send.
type Outgoing struct {
	Body []byte
	// Delay keeps the message invisible this long after it is sent; at most MaxDelay.
	Delay time.Duration
	// Attributes are the message's own attributes (SQS message attributes), if any.
	Attributes map[string]string
	// GroupID is the message group (SQS's MessageGroupId) and DedupID the deduplication id
	// (MessageDeduplicationId) of a message to a FIFO queue, which requires both; a standard
	// queue refuses them. Each is 1 to 128 ASCII letters, digits and punctuation, as on SQS.
	GroupID string
	DedupID string
}

// Queue is one named queue of the database.
type Queue struct {
	db         *sql.DB
	name       string
	dlq        string
	visibility time.Duration
	maxReceive int
	retention  time.Duration
	fifo       bool
	// ordered is the FIFO queue this standard queue sends ordered jobs to (WithOrdered).
	ordered *Queue
	now     func() time.Time
	stmts   statements
}

// statements are prepared once per queue: parsing SQL on every call was a fifth of the
// single-machine runtime's CPU at 500 events/s.
type statements struct {
	insert, reschedule, earliest, visible, hide, move, delete, release, expire *sql.Stmt
	// FIFO queues only (see fifo.go); prepared for every queue, since DeadLetter sends grouped
	// messages to a queue it knows by name only.
	insertGrouped, dedup, expireDedup, fifoVisible, groupLatest, groupNext, bySeq, nextHidden *sql.Stmt
}

func (q *Queue) prepare(ctx context.Context) error {
	for _, p := range []struct {
		dst  **sql.Stmt
		text string
	}{
		{&q.stmts.insert, `INSERT INTO queue_messages (queue, id, body, attributes, sent_at, visible_at) VALUES (?, ?, ?, ?, ?, ?)`},
		{&q.stmts.reschedule, `UPDATE queue_messages SET visible_at = ?1, leased = 0
			WHERE receipt = ?2 AND queue = ?3 AND ?1 <= received_at + ?4`},
		{&q.stmts.earliest, `SELECT MIN(visible_at) FROM queue_messages WHERE queue = ?`},
		{&q.stmts.visible, `SELECT seq, id, body, attributes, sent_at, receive_count FROM queue_messages
			WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?`},
		{&q.stmts.hide, `UPDATE queue_messages SET receive_count = receive_count + 1, visible_at = ?, receipt = ?, leased = 1,
			received_at = ? WHERE seq = ?`},
		{&q.stmts.move, `UPDATE queue_messages SET queue = ?, visible_at = ?, receipt = NULL, leased = 0 WHERE seq = ?`},
		{&q.stmts.delete, `DELETE FROM queue_messages WHERE receipt = ? AND queue = ?`},
		{&q.stmts.release, `UPDATE queue_messages SET visible_at = ?, receipt = NULL, leased = 0, receive_count = MAX(receive_count - 1, 0)
			WHERE queue = ? AND leased = 1`},
		{&q.stmts.expire, `DELETE FROM queue_messages WHERE seq IN
			(SELECT seq FROM queue_messages WHERE queue = ? AND sent_at < ? ORDER BY sent_at LIMIT ?)`},
		{&q.stmts.insertGrouped, `INSERT INTO queue_messages (queue, id, body, attributes, sent_at, visible_at, group_id)
			VALUES (?, ?, ?, ?, ?, ?, ?)`},
		// Takes the id unless it was sent within the interval; no row changed means a duplicate.
		// The first send starts the interval: a duplicate does not extend it, as on SQS.
		{&q.stmts.dedup, `INSERT INTO queue_dedup (queue, dedup_id, sent_at) VALUES (?1, ?2, ?3)
			ON CONFLICT (queue, dedup_id) DO UPDATE SET sent_at = excluded.sent_at WHERE sent_at <= ?4`},
		{&q.stmts.expireDedup, `DELETE FROM queue_dedup WHERE rowid IN
			(SELECT rowid FROM queue_dedup WHERE queue = ? AND sent_at <= ? LIMIT ?)`},
		{&q.stmts.fifoVisible, `SELECT seq, group_id FROM queue_messages
			WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq`},
		{&q.stmts.groupLatest, `SELECT MAX(visible_at) FROM queue_messages WHERE queue = ? AND group_id = ?`},
		{&q.stmts.groupNext, `SELECT seq, id, body, attributes, sent_at, receive_count FROM queue_messages
			WHERE queue = ? AND group_id = ? AND seq > ? ORDER BY seq LIMIT ?`},
		{&q.stmts.bySeq, `SELECT seq, id, body, attributes, sent_at, receive_count FROM queue_messages WHERE seq = ?`},
		{&q.stmts.nextHidden, `SELECT MIN(visible_at) FROM queue_messages WHERE queue = ? AND visible_at > ?`},
	} {
		stmt, err := q.db.PrepareContext(ctx, p.text)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.text, err)
		}
		*p.dst = stmt
	}
	return nil
}

var (
	_ stagehooks.JobQueue = (*Queue)(nil)
	_ delivery.RetryQueue = (*Queue)(nil)
	_ eventsource.Source  = (*Queue)(nil)
)

// schema is run by every New; each statement is idempotent, and sqlitedb.Migrate splits on
// ";\n", so no statement may contain one.
//
// seq is the rowid: send order, and the tie-break among messages that became visible at the
// same microsecond. A moved (redriven) message keeps its seq, id and sent_at, as SQS keeps the
// message ID and enqueue time of a message it moves to a dead-letter queue. group_id is the
// message group of a FIFO queue's message, NULL on a standard queue; queue_dedup holds the
// deduplication ids FIFO queues were sent (see the package doc).
const schema = `
CREATE TABLE IF NOT EXISTS queue_messages (
	seq           INTEGER PRIMARY KEY,
	queue         TEXT    NOT NULL,
	id            TEXT    NOT NULL,
	body          BLOB    NOT NULL,
	attributes    TEXT    CHECK (attributes IS NULL OR json_valid(attributes)),
	sent_at       INTEGER NOT NULL,
	visible_at    INTEGER NOT NULL,
	receive_count INTEGER NOT NULL DEFAULT 0,
	receipt       TEXT,
	leased        INTEGER NOT NULL DEFAULT 0 CHECK (leased IN (0, 1)),
	received_at   INTEGER NOT NULL DEFAULT 0,
	group_id      TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS queue_messages_by_visibility ON queue_messages (queue, visible_at);
CREATE UNIQUE INDEX IF NOT EXISTS queue_messages_by_receipt ON queue_messages (receipt) WHERE receipt IS NOT NULL;
CREATE INDEX IF NOT EXISTS queue_messages_by_age ON queue_messages (queue, sent_at);
CREATE TABLE IF NOT EXISTS queue_dedup (
	queue    TEXT    NOT NULL,
	dedup_id TEXT    NOT NULL,
	sent_at  INTEGER NOT NULL,
	PRIMARY KEY (queue, dedup_id)
) STRICT;
CREATE INDEX IF NOT EXISTS queue_dedup_by_age ON queue_dedup (queue, sent_at)`

// groupColumn came with FIFO queues: a queue_messages table made by an earlier version gains
// it (NULL, a standard queue's message) before fifoSchema indexes it.
const groupColumn = "group_id TEXT"

// fifoSchema runs after groupColumn is in place. The indexes are partial: a standard queue's
// messages (group_id NULL) are in neither, so their writes cost what they cost before.
const fifoSchema = `
CREATE INDEX IF NOT EXISTS queue_messages_by_group ON queue_messages (queue, group_id, seq) WHERE group_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS queue_messages_by_group_visibility ON queue_messages (queue, group_id, visible_at) WHERE group_id IS NOT NULL`

// New returns the queue name of db, creating the table on first use. Queues need no
// creation: a name is a queue.
func New(ctx context.Context, db *sql.DB, name string, opts Options) (*Queue, error) {
	q := &Queue{db: db, name: name, dlq: opts.DeadLetter, visibility: opts.VisibilityTimeout, maxReceive: opts.MaxReceiveCount,
		retention: opts.Retention, fifo: opts.FIFO, now: opts.Now}
	if q.visibility == 0 {
		q.visibility = DefaultVisibilityTimeout
	}
	if q.retention == 0 {
		q.retention = DefaultRetention
	}
	if q.now == nil {
		q.now = time.Now
	}
	switch {
	case name == "":
		return nil, errors.New("open local queue: empty name")
	case q.visibility < 0 || q.visibility > maxVisibility:
		return nil, fmt.Errorf("open local queue %s: visibility timeout %s is not within (0, %s]", name, q.visibility, maxVisibility)
	case q.retention < time.Minute || q.retention > 14*24*time.Hour:
		return nil, fmt.Errorf("open local queue %s: retention %s is not within SQS's 1 minute to 14 days", name, q.retention)
	case q.maxReceive < 0:
		return nil, fmt.Errorf("open local queue %s: negative max receive count %d", name, q.maxReceive)
	case q.maxReceive > 0 && q.dlq == "":
		return nil, fmt.Errorf("open local queue %s: max receive count %d needs a dead-letter queue", name, q.maxReceive)
	case q.dlq == name:
		return nil, fmt.Errorf("open local queue %s: it cannot be its own dead-letter queue", name)
	}
	if err := migrate(ctx, db); err != nil {
		return nil, fmt.Errorf("open local queue %s: %w", name, err)
	}
	if err := q.prepare(ctx); err != nil {
		return nil, fmt.Errorf("open local queue %s: %w", name, err)
	}
	return q, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	if err := sqlitedb.Migrate(ctx, db, "localqueue", schema); err != nil {
		return err
	}
	if err := sqlitedb.AddMissingColumns(ctx, db, "queue_messages", groupColumn); err != nil {
		// Another New, in this process or another, may have added it between the look and
		// the ALTER; a second look then finds it.
		if again := sqlitedb.AddMissingColumns(ctx, db, "queue_messages", groupColumn); again != nil {
			return err
		}
	}
	return sqlitedb.Migrate(ctx, db, "localqueue FIFO", fifoSchema)
}

// ReleaseInFlight makes visible at once every message handed out by a receive that has not
// been deleted or rescheduled since. Only the process that owns the queue may call it, at
// start: what was in flight then belonged to a process that died, and waiting out its
// visibility timeout (6 minutes for the delivery queue) would only delay those deliveries.
// Messages waiting for a scheduled retry keep their wait. The receive that handed a released
// message out is not counted: its handler never reached a verdict, it was killed with the
// process, and counting it sent events to a failure queue after three kills in a row (the
// SIGKILL test found it: a router invocation in flight at three of five kills).
func (q *Queue) ReleaseInFlight(ctx context.Context) (int, error) {
	res, err := q.stmts.release.ExecContext(ctx, q.now().UnixMicro(), q.name)
	if err != nil {
		return 0, fmt.Errorf("release in-flight messages of %s: %w", q.name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("release in-flight messages of %s: %w", q.name, err)
	}
	if n > 0 {
		wake(q.db, q.name)
	}
	return int(n), nil
}

// expireBatch bounds one delete of Expire, so that the write lock is held for milliseconds.
const expireBatch = 1000

// Expire deletes the messages sent longer ago than the queue's retention, visible, delayed or
// in flight, and returns how many; SQS does the same on its own. A message moved here by
// redrive keeps the time it was first sent, so a dead-letter queue needs the longer retention,
// as on SQS. It also forgets the deduplication ids sent to the queue over DedupInterval ago
// (a lookup ignores those anyway: this only keeps the table small).
func (q *Queue) Expire(ctx context.Context) (int, error) {
	now := q.now()
	total, err := expireAll(ctx, q.stmts.expire, q.name, now.Add(-q.retention).UnixMicro())
	if err != nil {
		return total, fmt.Errorf("expire messages of %s: %w", q.name, err)
	}
	if total > 0 && q.fifo {
		// An expired message in flight no longer holds its group.
		wake(q.db, q.name)
	}
	if _, err := expireAll(ctx, q.stmts.expireDedup, q.name, now.Add(-DedupInterval).UnixMicro()); err != nil {
		return total, fmt.Errorf("expire deduplication ids of %s: %w", q.name, err)
	}
	return total, nil
}

// expireAll runs stmt (queue, cutoff, limit) in batches of expireBatch until one deletes
// fewer, and returns how many rows it deleted.
func expireAll(ctx context.Context, stmt *sql.Stmt, queue string, cutoff int64) (int, error) {
	total := 0
	for {
		res, err := stmt.ExecContext(ctx, queue, cutoff, expireBatch)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < expireBatch {
			return total, nil
		}
	}
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// Send sends msgs in one transaction: when it returns nil every message is committed (or, on
// a FIFO queue, was a duplicate within DedupInterval), and when it returns an error none is.
func (q *Queue) Send(ctx context.Context, msgs []Outgoing) error {
	return SendAll(ctx, []Sending{{Queue: q, Msgs: msgs}})
}

// Sending is one queue's messages of a SendAll.
type Sending struct {
	Queue *Queue
	Msgs  []Outgoing
}

// SendAll is Send to several queues of one database in one transaction: with
// synchronous=FULL, one sync where a Send to each pays one each, one after the other. An
// event that two functions take (the router and the notifier) is two sends; sending both at
// once took the p99 from event to receiver at 500 events/s with FULL from 52 to 35 ms
// (medians of five paired runs, shared 2-core VM). Either every message is committed or none
// is.
func SendAll(ctx context.Context, sends []Sending) error {
	if len(sends) == 0 {
		return nil
	}
	first := sends[0].Queue
	batches := make([]batch, 0, len(sends))
	for _, s := range sends {
		if s.Queue.db != first.db {
			return fmt.Errorf("send to queues %s and %s at once: they are in different databases", first.name, s.Queue.name)
		}
		for i, m := range s.Msgs {
			if err := s.Queue.check(m); err != nil {
				return fmt.Errorf("send to queue %s: message %d: %w", s.Queue.name, i, err)
			}
		}
		batches = append(batches, batch{s.Queue.name, s.Msgs})
	}
	if err := first.insert(ctx, batches...); err != nil {
		return fmt.Errorf("send to queue %s and %d more: %w", first.name, len(sends)-1, err)
	}
	return nil
}

// check refuses a message SQS would refuse on this queue.
func (q *Queue) check(m Outgoing) error {
	if len(m.Body) > MaxMessageBytes {
		return fmt.Errorf("%d bytes, over SQS's message limit of %d", len(m.Body), MaxMessageBytes)
	}
	if m.Delay < 0 || m.Delay > MaxDelay {
		return fmt.Errorf("delay %s is not within SQS's 0 to %s", m.Delay, MaxDelay)
	}
	if !q.fifo {
		if m.GroupID != "" || m.DedupID != "" {
			return fmt.Errorf("a message group or deduplication id on standard queue %s, which has neither (not FIFO)", q.name)
		}
		return nil
	}
	return checkFIFO(m)
}

// Enqueue implements stagehooks.JobQueue: every job in one transaction, durable when it
// returns nil. Ordered jobs go to the ordered queue (see WithOrdered), in the same
// transaction.
func (q *Queue) Enqueue(ctx context.Context, jobs []delivery.Job) error {
	resends := make([]delivery.Resend, len(jobs))
	for i, job := range jobs {
		resends[i] = delivery.Resend{Job: job}
	}
	batches, err := q.route(resends)
	if err != nil {
		return fmt.Errorf("enqueue %d delivery jobs on %s: %w", len(jobs), q.name, err)
	}
	if err := q.insert(ctx, batches...); err != nil {
		return fmt.Errorf("enqueue %d delivery jobs on %s: %w", len(jobs), q.name, err)
	}
	return nil
}

// Resend implements delivery.RetryQueue: new messages, each delayed by its Delay, all in one
// transaction. A delay above SQS's 15 minutes is refused, as SQS refuses it, and so is any
// delay on a FIFO queue. Ordered jobs go to the ordered queue (see WithOrdered).
func (q *Queue) Resend(ctx context.Context, jobs []delivery.Resend) error {
	batches, err := q.route(jobs)
	if err != nil {
		return fmt.Errorf("resend %d delivery jobs on %s: %w", len(jobs), q.name, err)
	}
	if err := q.insert(ctx, batches...); err != nil {
		return fmt.Errorf("resend %d delivery jobs on %s: %w", len(jobs), q.name, err)
	}
	return nil
}

// DeadLetter implements delivery.RetryQueue: body goes to the dead-letter queue with the
// reason and, unless it is delivery.ClassNone, the error class as attributes. From a FIFO
// queue it goes in its job's group, deduplicated by its digest, as infra/sqsqueue sends it.
func (q *Queue) DeadLetter(ctx context.Context, body []byte, reason string, class delivery.Class) error {
	if q.dlq == "" {
		return fmt.Errorf("dead-letter delivery job (%s): queue %s has no dead-letter queue", reason, q.name)
	}
	attrs := map[string]string{AttrReason: reason}
	if class != delivery.ClassNone {
		attrs[AttrErrorClass] = string(class)
	}
	m := Outgoing{Body: body, Attributes: attrs}
	if q.fifo {
		m.GroupID, m.DedupID = deadLetterGroup(body), deadLetterDedupID(body)
	}
	if err := q.insert(ctx, batch{q.dlq, []Outgoing{m}}); err != nil {
		return fmt.Errorf("dead-letter delivery job (%s) to %s: %w", reason, q.dlq, err)
	}
	return nil
}

// batch is checked messages for one named queue of the database.
type batch struct {
	queue string
	msgs  []Outgoing
}

// insert commits every batch in one transaction. A message with a DedupID already sent to its
// queue within DedupInterval is left out.
func (q *Queue) insert(ctx context.Context, batches ...batch) error {
	type row struct {
		attrs sql.NullString
		delay time.Duration
	}
	var rows [][]row
	n := 0
	for _, b := range batches {
		rs := make([]row, len(b.msgs))
		for i, m := range b.msgs {
			if len(m.Attributes) > 0 {
				enc, err := json.Marshal(m.Attributes)
				if err != nil {
					return fmt.Errorf("encode attributes of message %d: %w", i, err)
				}
				rs[i].attrs = sql.NullString{String: string(enc), Valid: true}
			}
			rs[i].delay = max(m.Delay, 0)
		}
		rows = append(rows, rs)
		n += len(b.msgs)
	}
	if n == 0 {
		return nil
	}
	now := q.now()
	err := sqlitedb.Write(ctx, q.db, func(ctx context.Context, tx *sql.Tx) error {
		stmt := tx.StmtContext(ctx, q.stmts.insert)
		var grouped, dedup *sql.Stmt
		for bi, b := range batches {
			for i, m := range b.msgs {
				body := m.Body
				if body == nil {
					body = []byte{} // NOT NULL: an empty body is still a message
				}
				sentAt, visibleAt := now.UnixMicro(), now.Add(rows[bi][i].delay).UnixMicro()
				if m.GroupID == "" && m.DedupID == "" {
					if _, err := stmt.ExecContext(ctx, b.queue, uuid.NewString(), body, rows[bi][i].attrs, sentAt, visibleAt); err != nil {
						return fmt.Errorf("insert message %d: %w", i, err)
					}
					continue
				}
				if grouped == nil {
					grouped, dedup = tx.StmtContext(ctx, q.stmts.insertGrouped), tx.StmtContext(ctx, q.stmts.dedup)
				}
				if m.DedupID != "" {
					res, err := dedup.ExecContext(ctx, b.queue, m.DedupID, sentAt, now.Add(-DedupInterval).UnixMicro())
					if err != nil {
						return fmt.Errorf("deduplicate message %d: %w", i, err)
					}
					if taken, err := res.RowsAffected(); err != nil {
						return fmt.Errorf("deduplicate message %d: %w", i, err)
					} else if taken == 0 {
						continue // sent within the interval: accepted, not queued again
					}
				}
				if _, err := grouped.ExecContext(ctx, b.queue, uuid.NewString(), body, rows[bi][i].attrs, sentAt, visibleAt, m.GroupID); err != nil {
					return fmt.Errorf("insert message %d: %w", i, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, b := range batches {
		if len(b.msgs) > 0 {
			wake(q.db, b.queue)
		}
	}
	return nil
}

// RetryLater implements delivery.RetryQueue: each message stays hidden for its wait from now,
// without counting a receive. As on SQS, a wait that would keep a message hidden past 12 h
// from its receive is refused and leaves the message as it was, and so is a message whose
// receipt handle is not its latest (it was received again since, or deleted); the IDs of both
// are returned.
func (q *Queue) RetryLater(ctx context.Context, retries []delivery.Retry) ([]string, error) {
	if len(retries) == 0 {
		return nil, nil
	}
	all := func() []string {
		ids := make([]string, len(retries))
		for i, r := range retries {
			ids[i] = r.Message.ID
		}
		return ids
	}
	now := q.now()
	var stale, tooLong []string
	err := sqlitedb.Write(ctx, q.db, func(ctx context.Context, tx *sql.Tx) error {
		stale, tooLong = nil, nil
		stmt := tx.StmtContext(ctx, q.stmts.reschedule)
		for _, r := range retries {
			if r.Wait < 0 || r.Wait > maxVisibility {
				tooLong = append(tooLong, r.Message.ID)
				continue
			}
			// The 12 h are checked in the UPDATE itself, so a refused wait changes nothing and
			// the others of the call still apply, as SQS refuses one entry of a batch. Only a
			// refusal asks why: a stale handle or a wait too long.
			visibleAt := now.Add(r.Wait).UnixMicro()
			res, err := stmt.ExecContext(ctx, visibleAt, r.Message.ReceiptHandle, q.name, maxVisibility.Microseconds())
			if err != nil {
				return fmt.Errorf("delivery %s: %w", r.Message.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("delivery %s: %w", r.Message.ID, err)
			} else if n == 1 {
				continue
			}
			var held int
			switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM queue_messages WHERE receipt = ? AND queue = ?`, r.Message.ReceiptHandle, q.name).Scan(&held); {
			case errors.Is(err, sql.ErrNoRows):
				stale = append(stale, r.Message.ID)
			case err != nil:
				return fmt.Errorf("delivery %s: %w", r.Message.ID, err)
			default:
				tooLong = append(tooLong, r.Message.ID)
			}
		}
		return nil
	})
	if err != nil {
		return all(), fmt.Errorf("reschedule %d deliveries on %s: %w", len(retries), q.name, err)
	}
	// A wait shorter than what is left of a visibility timeout brings a message back sooner
	// than a waiting receiver's timer expects.
	wake(q.db, q.name)
	var errs []error
	if len(stale) > 0 {
		errs = append(errs, fmt.Errorf("reschedule deliveries on %s: %d of %d receipt handles are stale (received again or deleted since): %s",
			q.name, len(stale), len(retries), strings.Join(stale, ", ")))
	}
	if len(tooLong) > 0 {
		errs = append(errs, fmt.Errorf("reschedule deliveries on %s: %d of %d waits would keep a message hidden past %s from its receive, which SQS refuses: %s",
			q.name, len(tooLong), len(retries), maxVisibility, strings.Join(tooLong, ", ")))
	}
	return append(stale, tooLong...), errors.Join(errs...)
}

// Receive implements eventsource.Source: up to max visible messages, oldest-visible first (send
// order for messages that were never received or delayed), each hidden for the visibility
// timeout with its receive count raised and a fresh receipt handle. When none is visible it
// waits up to wait for one to be sent or to become visible. On a FIFO queue a group's messages
// come in send order and none while another of the group is in flight (see the package doc).
func (q *Queue) Receive(ctx context.Context, maxMessages int, wait time.Duration) ([]eventsource.Received, error) {
	if maxMessages <= 0 {
		maxMessages = 1
	}
	deadline := time.Now().Add(wait)
	for {
		// Subscribe before looking: a message committed after the look wakes this receiver.
		woken := subscribe(q.db, q.name)
		msgs, next, err := q.receiveOnce(ctx, maxMessages)
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
		sleep := time.Until(deadline)
		if sleep <= 0 {
			return nil, nil
		}
		if !next.IsZero() {
			// The earliest hidden or delayed message becomes visible; 1 ms at least, so a
			// clock that stands still in a test cannot spin this loop.
			sleep = min(sleep, max(next.Sub(q.now()), time.Millisecond))
		}
		timer := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("receive from queue %s: %w", q.name, ctx.Err())
		case <-woken:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// receiveOnce hands out what is visible now. When nothing is, it returns when the earliest
// message of the queue becomes visible (zero when the queue is empty).
func (q *Queue) receiveOnce(ctx context.Context, maxMessages int) ([]eventsource.Received, time.Time, error) {
	now := q.now()
	nowUs := now.UnixMicro()
	// A read outside any transaction first: an idle receiver never takes the write lock,
	// which writers would otherwise queue behind. MIN over the index is O(log n).
	var earliest sql.NullInt64
	if err := q.stmts.earliest.QueryRowContext(ctx, q.name).Scan(&earliest); err != nil {
		return nil, time.Time{}, fmt.Errorf("receive from queue %s: %w", q.name, err)
	}
	if !earliest.Valid {
		return nil, time.Time{}, nil
	}
	if earliest.Int64 > nowUs {
		return nil, time.UnixMicro(earliest.Int64), nil
	}
	if q.fifo {
		msgs, moved, next, err := q.claimFIFO(ctx, now, maxMessages)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("receive from queue %s: %w", q.name, err)
		}
		if moved {
			wake(q.db, q.dlq)
		}
		return msgs, next, nil
	}
	msgs, moved, err := q.claim(ctx, now, maxMessages)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("receive from queue %s: %w", q.name, err)
	}
	if moved {
		wake(q.db, q.dlq)
	}
	// Another receiver may have taken what was visible: look again at once.
	return msgs, now, nil
}

// claim hands out up to max visible messages in one write and moves those that exhausted
// their receives to the dead-letter queue.
func (q *Queue) claim(ctx context.Context, now time.Time, maxMessages int) (msgs []eventsource.Received, moved bool, err error) {
	err = sqlitedb.WriteUnsynced(ctx, q.db, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		msgs, moved, err = q.claimIn(ctx, tx, now, maxMessages)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return msgs, moved, nil
}

// claimIn is claim's work inside tx.
func (q *Queue) claimIn(ctx context.Context, tx *sql.Tx, now time.Time, maxMessages int) (msgs []eventsource.Received, moved bool, err error) {
	nowUs := now.UnixMicro()
	hiddenUntil := now.Add(q.visibility).UnixMicro()
	for len(msgs) < maxMessages {
		limit := maxMessages - len(msgs)
		rows, err := tx.StmtContext(ctx, q.stmts.visible).QueryContext(ctx, q.name, nowUs, limit)
		if err != nil {
			return nil, false, fmt.Errorf("select visible messages: %w", err)
		}
		type candidate struct {
			seq int64
			msg eventsource.Received
		}
		var give []candidate
		var redrive []int64
		n := 0
		for rows.Next() {
			n++
			var c candidate
			var body []byte
			var attrs sql.NullString
			var sent int64
			if err := rows.Scan(&c.seq, &c.msg.ID, &body, &attrs, &sent, &c.msg.ReceiveCount); err != nil {
				rows.Close()
				return nil, false, fmt.Errorf("read message: %w", err)
			}
			if q.maxReceive > 0 && c.msg.ReceiveCount >= q.maxReceive {
				redrive = append(redrive, c.seq)
				continue
			}
			c.msg.Body = string(body)
			c.msg.SentAt = time.UnixMicro(sent)
			if attrs.Valid {
				if err := json.Unmarshal([]byte(attrs.String), &c.msg.Attributes); err != nil {
					rows.Close()
					return nil, false, fmt.Errorf("decode attributes of message %s: %w", c.msg.ID, err)
				}
			}
			give = append(give, c)
		}
		if err := rows.Close(); err != nil {
			return nil, false, fmt.Errorf("read messages: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, false, fmt.Errorf("read messages: %w", err)
		}
		for _, c := range give {
			c.msg.ReceiptHandle = rand.Text()
			c.msg.ReceiveCount++
			if _, err := tx.StmtContext(ctx, q.stmts.hide).ExecContext(ctx, hiddenUntil, c.msg.ReceiptHandle, nowUs, c.seq); err != nil {
				return nil, false, fmt.Errorf("hide message %s: %w", c.msg.ID, err)
			}
			msgs = append(msgs, c.msg)
		}
		for _, seq := range redrive {
			// Visible at once in the dead-letter queue; the receipt handle dies with the move.
			if _, err := tx.StmtContext(ctx, q.stmts.move).ExecContext(ctx, q.dlq, nowUs, seq); err != nil {
				return nil, false, fmt.Errorf("move message to dead-letter queue %s: %w", q.dlq, err)
			}
			moved = true
		}
		// Only moved messages can leave room for more in this receive.
		if len(redrive) == 0 || n < limit {
			break
		}
	}
	return msgs, moved, nil
}

// Delete implements eventsource.Source: the messages whose receipt handles are still their
// latest are deleted, in one transaction. As on SQS, a stale handle (the message was received
// again since, or is already deleted) deletes nothing and is not an error: the message comes
// back, and receivers deduplicate. A handle this queue never issued is an error.
func (q *Queue) Delete(ctx context.Context, msgs []eventsource.Received) error {
	if len(msgs) == 0 {
		return nil
	}
	var invalid []string
	err := sqlitedb.WriteUnsynced(ctx, q.db, func(ctx context.Context, tx *sql.Tx) error {
		invalid = nil
		stmt := tx.StmtContext(ctx, q.stmts.delete)
		for _, m := range msgs {
			if !validReceipt(m.ReceiptHandle) {
				invalid = append(invalid, m.ID)
				continue
			}
			if _, err := stmt.ExecContext(ctx, m.ReceiptHandle, q.name); err != nil {
				return fmt.Errorf("message %s: %w", m.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %d messages from %s: %w", len(msgs), q.name, err)
	}
	if q.fifo {
		// A deleted message may have been the last in flight of its group, whose next
		// messages a waiting receiver can now have.
		wake(q.db, q.name)
	}
	if len(invalid) > 0 {
		return fmt.Errorf("delete messages from %s: %d receipt handles were never issued (messages %s)", q.name, len(invalid), strings.Join(invalid, ", "))
	}
	return nil
}

// validReceipt reports whether h has the shape of rand.Text's output: 26 characters of the
// base32 alphabet.
func validReceipt(h string) bool {
	if len(h) != 26 {
		return false
	}
	for _, c := range h {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
