// Package mailbatch is the five-minute email batching of notifications: the event path stores
// one Line per recipient and event, and the mailer sends each recipient, once per window, one
// email with everything stored since their last one. This file is the store both runtimes
// implement (infra/dynamo on AWS, infra/sqlitestore on one machine); tests/contract holds them
// to the same behaviour.
package mailbatch

import (
	"context"
	"iter"
	"time"
)

// Line is one event told to one recipient: a line of their next email.
type Line struct {
	// ID is derived from the inbound event, the notification and the recipient, so the same
	// event delivered twice gives the same line, which the store keeps once.
	ID                string
	TenantID          string
	Recipient         string // the address, lower case
	NotificationID    string
	NotificationTitle string
	ProjectHash       string
	EventType         string
	// Text is the line as the email shows it, one sentence of plain text.
	Text       string
	OccurredAt time.Time
	// AddedAt is when the line was stored; AddLines sets it to the time of the call when it
	// is zero. The mailer gives lines up by it (Mailer.GiveUpAfter), not by OccurredAt, which
	// the producer sets and a replayed event carries from long ago. A line stored by a Herald
	// that did not keep it reads as zero and is never given up.
	AddedAt time.Time
}

// Recipient is one address of one tenant. The same address in two tenants is two recipients,
// with their own lines and emails: nothing of one tenant's notifications reaches another's.
type Recipient struct {
	TenantID string
	Address  string
}

// Claim is the right to send one recipient the email of one window.
type Claim struct {
	Recipient Recipient
	// Window numbers the send interval (Unix time divided by the interval): a recipient is
	// claimed at most once per window, so a schedule that fires twice or two overlapping runs
	// send one email, not two.
	Window int64
	// Seq counts the lines ever added for the recipient when the claim was taken; MarkSent
	// clears the pending mark only if no line arrived since.
	Seq        int64
	LeaseUntil time.Time
}

// SentRetention is how long a sent line is kept, without its text, after its email: long
// enough that an inbound event delivered again (EventBridge and Lambda retry within a day)
// finds it and is not mailed twice.
const SentRetention = 7 * 24 * time.Hour

// Store keeps lines until the mailer sends them.
type Store interface {
	// AddLines stores each line once, with its AddedAt (now when zero). A line whose ID the
	// recipient already has, pending or sent within SentRetention, is skipped without error. A new line marks its recipient
	// pending and adds one to its Seq. It returns how many lines were new.
	AddLines(ctx context.Context, lines []Line) (added int, err error)
	// PendingRecipients yields every recipient marked pending, reading the store a page at a
	// time, so memory does not grow with their number. Order is unspecified.
	PendingRecipients(ctx context.Context) iter.Seq2[Recipient, error]
	// Claim takes window for r: it succeeds only if r was never claimed for window or a later
	// one and no earlier claim's lease runs past now. ok is false, with a nil error, when the
	// claim is refused or r has no state.
	Claim(ctx context.Context, r Recipient, window int64, now, leaseUntil time.Time) (c Claim, ok bool, err error)
	// PendingLines returns r's unsent lines, oldest first (OccurredAt, then ID), at most limit.
	PendingLines(ctx context.Context, r Recipient, limit int) ([]Line, error)
	// MarkSent records that the lines went out: they are kept as sent (see SentRetention) and
	// the claim's lease ends. When allSent is true and no line was added since the claim
	// (Seq), r is no longer pending.
	MarkSent(ctx context.Context, c Claim, lineIDs []string, allSent bool, sentAt time.Time) error
	// Release ends the claim's lease without sending: the lines wait for the next window.
	Release(ctx context.Context, c Claim) error
}
