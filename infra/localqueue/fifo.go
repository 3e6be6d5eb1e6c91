package localqueue

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
)

// DedupInterval is SQS's deduplication interval: a FIFO queue takes a message whose DedupID it
// was sent this long ago or less, and does not queue it again.
const DedupInterval = 5 * time.Minute

// maxFIFOID is SQS's longest MessageGroupId and MessageDeduplicationId.
const maxFIFOID = 128

// undecodableGroup is the message group of a dead letter from a FIFO queue whose body is not
// a delivery job (infra/sqsqueue uses the same).
const undecodableGroup = "undecodable"

// WithOrdered returns a copy of the standard queue q that sends every job with Ordered set, by
// Enqueue or Resend, to the FIFO queue fifo (in the same database and the same transaction),
// and the others to q as before. Without it, q refuses ordered jobs rather than lose their
// order. A FIFO queue needs none: it takes every job itself, in the job's group.
func (q *Queue) WithOrdered(fifo *Queue) *Queue {
	c := *q
	c.ordered = fifo
	return &c
}

// route encodes jobs into checked messages, ordered jobs for the ordered queue, in their
// order. Nothing is returned, and so nothing sent, when one of them would be refused.
func (q *Queue) route(jobs []delivery.Resend) ([]batch, error) {
	own := batch{queue: q.name, msgs: make([]Outgoing, 0, len(jobs))}
	var ordered batch
	for _, r := range jobs {
		to := q
		if r.Job.Ordered && !q.fifo {
			switch {
			case q.ordered == nil:
				return nil, fmt.Errorf("delivery job %s is ordered and queue %s has no ordered queue to send it to (WithOrdered)", r.Job.ID, q.name)
			case !q.ordered.fifo:
				return nil, fmt.Errorf("delivery job %s is ordered and the ordered queue %s of %s is not a FIFO queue", r.Job.ID, q.ordered.name, q.name)
			case q.ordered.db != q.db:
				return nil, fmt.Errorf("delivery job %s is ordered and the ordered queue %s of %s is in another database", r.Job.ID, q.ordered.name, q.name)
			}
			to = q.ordered
		}
		body, err := json.Marshal(r.Job)
		if err != nil {
			return nil, fmt.Errorf("encode delivery job %s: %w", r.Job.ID, err)
		}
		m := Outgoing{Body: body, Delay: r.Delay}
		if to.fifo {
			// The job id dedups a job sent twice (a retried transition) within the interval.
			m.GroupID, m.DedupID = r.Job.OrderGroup(), r.Job.ID
		}
		if err := to.check(m); err != nil {
			return nil, fmt.Errorf("delivery job %s on %s: %w", r.Job.ID, to.name, err)
		}
		if to == q {
			own.msgs = append(own.msgs, m)
		} else {
			ordered.queue = to.name
			ordered.msgs = append(ordered.msgs, m)
		}
	}
	return []batch{own, ordered}, nil
}

// checkFIFO refuses what SQS refuses of a message to a FIFO queue.
func checkFIFO(m Outgoing) error {
	switch {
	case m.Delay > 0:
		return fmt.Errorf("delay %s on a FIFO queue, which SQS refuses (DelaySeconds is not valid for a FIFO queue's messages)", m.Delay)
	case !validFIFOID(m.GroupID):
		return fmt.Errorf("message group id %q is not 1 to %d ASCII letters, digits and punctuation, as SQS requires", m.GroupID, maxFIFOID)
	case !validFIFOID(m.DedupID):
		return fmt.Errorf("deduplication id %q is not 1 to %d ASCII letters, digits and punctuation, as SQS requires", m.DedupID, maxFIFOID)
	}
	return nil
}

// validFIFOID reports whether id is what SQS takes as a MessageGroupId or
// MessageDeduplicationId: 1 to 128 characters, each an ASCII letter, digit or punctuation.
func validFIFOID(id string) bool {
	if len(id) == 0 || len(id) > maxFIFOID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '!' || id[i] > '~' {
			return false
		}
	}
	return true
}

// deadLetterGroup is the group of a dead letter from a FIFO queue: its job's, so that a
// webhook's dead letters stay in order, or one fixed group for a body that is no job.
func deadLetterGroup(body []byte) string {
	job, err := delivery.DecodeJob(body)
	if err != nil {
		return undecodableGroup
	}
	return job.OrderGroup()
}

// deadLetterDedupID is the body's digest: a dead-letter send that is retried is stored once.
func deadLetterDedupID(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// candidate is a message a receive may hand out.
type candidate struct {
	seq int64
	msg eventsource.Received
}

// claimFIFO is claim for a FIFO queue: it hands out up to max messages of the groups that have
// none in flight, each group's in send order, and moves those that exhausted their receives to
// the dead-letter queue. When it hands out nothing, next is when the earliest message in
// flight comes back (zero when none is): until then only a wake can free a group.
func (q *Queue) claimFIFO(ctx context.Context, now time.Time, maxMessages int) (msgs []eventsource.Received, moved bool, next time.Time, err error) {
	err = sqlitedb.WriteUnsynced(ctx, q.db, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		msgs, moved, next, err = q.claimFIFOIn(ctx, tx, now, maxMessages)
		return err
	})
	if err != nil {
		return nil, false, time.Time{}, err
	}
	return msgs, moved, next, nil
}

// claimFIFOIn is claimFIFO's work inside tx.
func (q *Queue) claimFIFOIn(ctx context.Context, tx *sql.Tx, now time.Time, maxMessages int) (msgs []eventsource.Received, moved bool, next time.Time, err error) {
	nowUs := now.UnixMicro()
	give, redrive, err := q.pickFIFO(ctx, tx, nowUs, maxMessages)
	if err != nil {
		return nil, false, time.Time{}, err
	}
	if len(give) == 0 {
		var hidden sql.NullInt64
		if err := tx.StmtContext(ctx, q.stmts.nextHidden).QueryRowContext(ctx, q.name, nowUs).Scan(&hidden); err != nil {
			return nil, false, time.Time{}, fmt.Errorf("find the next message in flight: %w", err)
		}
		if hidden.Valid {
			next = time.UnixMicro(hidden.Int64)
		}
		if len(redrive) == 0 {
			return nil, false, next, nil
		}
	}
	hiddenUntil := now.Add(q.visibility).UnixMicro()
	hide := tx.StmtContext(ctx, q.stmts.hide)
	for _, c := range give {
		c.msg.ReceiptHandle = rand.Text()
		c.msg.ReceiveCount++
		if _, err := hide.ExecContext(ctx, hiddenUntil, c.msg.ReceiptHandle, nowUs, c.seq); err != nil {
			return nil, false, time.Time{}, fmt.Errorf("hide message %s: %w", c.msg.ID, err)
		}
		msgs = append(msgs, c.msg)
	}
	move := tx.StmtContext(ctx, q.stmts.move)
	for _, seq := range redrive {
		// Visible at once in the dead-letter queue, in its group; the receipt handle dies
		// with the move.
		if _, err := move.ExecContext(ctx, q.dlq, nowUs, seq); err != nil {
			return nil, false, time.Time{}, fmt.Errorf("move message to dead-letter queue %s: %w", q.dlq, err)
		}
	}
	if len(msgs) > 0 {
		next = now
	}
	return msgs, len(redrive) > 0, next, nil
}

// pickFIFO walks the visible messages oldest-visible first and, for each group it meets that
// has no message in flight, takes the group's next messages in send order, until it has max.
// The rows are only read here: claimFIFO changes them once the walk is closed.
func (q *Queue) pickFIFO(ctx context.Context, tx *sql.Tx, nowUs int64, maxMessages int) (give []candidate, redrive []int64, err error) {
	rows, err := tx.StmtContext(ctx, q.stmts.fifoVisible).QueryContext(ctx, q.name, nowUs)
	if err != nil {
		return nil, nil, fmt.Errorf("select visible messages: %w", err)
	}
	defer rows.Close()
	latest := tx.StmtContext(ctx, q.stmts.groupLatest)
	groupNext := tx.StmtContext(ctx, q.stmts.groupNext)
	bySeq := tx.StmtContext(ctx, q.stmts.bySeq)
	// take adds the messages read to give, or to redrive once they were received too often.
	take := func(read *sql.Rows) (n int, last int64, err error) {
		defer read.Close()
		for read.Next() {
			n++
			c, err := scanCandidate(read)
			if err != nil {
				return n, 0, err
			}
			last = c.seq
			if q.maxReceive > 0 && c.msg.ReceiveCount >= q.maxReceive {
				redrive = append(redrive, c.seq)
				continue
			}
			give = append(give, c)
		}
		return n, last, errors.Join(read.Err(), read.Close())
	}
	looked := map[string]bool{}
	for len(give) < maxMessages && rows.Next() {
		var seq int64
		var group sql.NullString
		if err := rows.Scan(&seq, &group); err != nil {
			return nil, nil, fmt.Errorf("read message: %w", err)
		}
		if !group.Valid {
			// Sent while the queue was a standard one (same name, earlier options): a group
			// of its own.
			one, err := bySeq.QueryContext(ctx, seq)
			if err != nil {
				return nil, nil, fmt.Errorf("read message %d: %w", seq, err)
			}
			if _, _, err := take(one); err != nil {
				return nil, nil, fmt.Errorf("read message %d: %w", seq, err)
			}
			continue
		}
		if looked[group.String] {
			continue // taken already, or held
		}
		looked[group.String] = true
		var last int64
		if err := latest.QueryRowContext(ctx, q.name, group.String).Scan(&last); err != nil {
			return nil, nil, fmt.Errorf("look up message group %s: %w", group.String, err)
		}
		if last > nowUs {
			continue // a message of the group is in flight: the group waits for it
		}
		// Every message of the group is visible: its next ones in send order, as many as
		// the receive takes, more when some of them are redriven instead.
		after := int64(0)
		for len(give) < maxMessages {
			want := maxMessages - len(give)
			page, err := groupNext.QueryContext(ctx, q.name, group.String, after, want)
			if err != nil {
				return nil, nil, fmt.Errorf("read message group %s: %w", group.String, err)
			}
			n, lastSeq, err := take(page)
			if err != nil {
				return nil, nil, fmt.Errorf("read message group %s: %w", group.String, err)
			}
			if n < want {
				break
			}
			after = lastSeq
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read messages: %w", err)
	}
	return give, redrive, nil
}

// scanCandidate reads seq, id, body, attributes, sent_at and receive_count.
func scanCandidate(rows *sql.Rows) (candidate, error) {
	var c candidate
	var body []byte
	var attrs sql.NullString
	var sent int64
	if err := rows.Scan(&c.seq, &c.msg.ID, &body, &attrs, &sent, &c.msg.ReceiveCount); err != nil {
		return c, fmt.Errorf("read message: %w", err)
	}
	c.msg.Body = string(body)
	c.msg.SentAt = time.UnixMicro(sent)
	if attrs.Valid {
		if err := json.Unmarshal([]byte(attrs.String), &c.msg.Attributes); err != nil {
			return c, fmt.Errorf("decode attributes of message %s: %w", c.msg.ID, err)
		}
	}
	return c, nil
}
