// Package inbound keeps, for a while, the inbound events that queued nothing and why: invalid
// (and at which field), or valid for a stage that has no webhook. A producer reads it to
// learn why a webhook did not fire. Records belong to the tenant the event names; an event
// that names no valid tenant is only logged and counted, since no tenant may see it.
//
// Events that queued deliveries are not kept here: the delivery log shows what each did, and
// the happy path costs no write for this record (see Worth).
package inbound

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
)

// Outcome is what became of an inbound event in one of Herald's routers.
type Outcome string

const (
	// Routed events queued deliveries (webhooks, Slack posts, email lines).
	Routed Outcome = "routed"
	// NoMatch events were valid but nothing is configured to fire for them.
	NoMatch Outcome = "no_match"
	// Rejected events were invalid; Reason and Detail say why.
	Rejected Outcome = "rejected"
)

// Valid reports whether o is one of the outcomes.
func (o Outcome) Valid() bool { return o == Routed || o == NoMatch || o == Rejected }

// The routers that record what they did with an event: a stage transition goes through both.
const (
	RouterStageWebhooks = "stage_webhooks"
	RouterNotifications = "notifications"
)

// ReasonNoWebhook is the reason of a NoMatch: a transition that fires a webhook event onto a
// stage where the tenant has no enabled webhook.
const ReasonNoWebhook = "no_webhook"

// Retention is how long records are kept (DynamoDB TTL; the embedded housekeeping).
const Retention = 7 * 24 * time.Hour

// MaxDetail bounds Detail: the reason in words, with the field of a schema violation.
const MaxDetail = 500

// Record is what one router did with one inbound event.
type Record struct {
	TenantID   string
	EventID    string
	Router     string
	DetailType string
	Source     string
	// At is when Herald handled the event.
	At          time.Time
	Outcome     Outcome
	Reason      string
	Detail      string
	ProjectHash string
	TaskID      string
	// Deliveries counts what was queued: webhook deliveries, Slack posts, email lines.
	Deliveries int
}

// Bounded returns r with Detail cut to MaxDetail bytes on a character boundary.
func (r Record) Bounded() Record {
	if len(r.Detail) > MaxDetail {
		cut := MaxDetail
		for cut > 0 && !utf8.RuneStart(r.Detail[cut]) {
			cut--
		}
		r.Detail = r.Detail[:cut] + "…"
	}
	return r
}

// Recorder keeps records.
type Recorder interface {
	RecordInbound(ctx context.Context, r Record) error
}

// Query selects a tenant's records, newest first.
type Query struct {
	// Outcome keeps only the records with this outcome; empty for all.
	Outcome Outcome
	Page    stagehooks.PageRequest
}

// Page is one page of records.
type Page struct {
	Items      []Record
	NextCursor string
}

// Reader lists a tenant's records.
type Reader interface {
	ListInbound(ctx context.Context, tenant string, q Query) (Page, error)
}

// Rejection is the record of an event a router refused: what it is about is read leniently
// from its detail, which failed validation.
func Rejection(eventID, router, detailType, source string, detail []byte, reason, why string) Record {
	tenant, project, task := Subject(detail)
	return Record{
		TenantID: tenant, EventID: eventID, Router: router, DetailType: detailType, Source: source, ProjectHash: project, TaskID: task,
		Outcome: Rejected, Reason: reason, Detail: why,
	}
}

// Subject reads leniently what an event's detail is about (for an event that may have failed
// validation elsewhere): its tenant, empty when it names none that is valid, its project and
// its task.
func Subject(detail []byte) (tenant, project, task string) {
	var d struct {
		TenantID    any `json:"tenant_id"`
		ProjectHash any `json:"project_hash"`
		TaskID      any `json:"task_id"`
	}
	if json.Unmarshal(detail, &d) != nil {
		return "", "", ""
	}
	text := func(v any) string {
		s, _ := v.(string)
		if len(s) > 128 {
			return ""
		}
		return s
	}
	tenant = text(d.TenantID)
	if !ValidTenant(tenant) {
		tenant = ""
	}
	return tenant, text(d.ProjectHash), text(d.TaskID)
}

// ValidTenant reports whether s can be a tenant id (stagehooks.ValidID).
func ValidTenant(s string) bool { return stagehooks.ValidID(s) }

// Key orders a tenant's records by time, then event and router: the same on every store, and
// what a cursor holds.
func (r Record) Key() string {
	return r.At.UTC().Format(keyTime) + "#" + r.EventID + "#" + r.Router
}

// keyTime is fixed-width, so that keys sort as times do.
const keyTime = "2006-01-02T15:04:05.000000000Z"

// Cursor is the cursor of a page that ended at key, bound to the tenant's list: the tenant's
// length, the tenant and the key, so that any bytes in either come back as they were.
func Cursor(tenant, key string) string {
	b := binary.AppendUvarint(nil, uint64(len(tenant)))
	return base64.RawURLEncoding.EncodeToString(append(append(b, tenant...), key...))
}

// After reads a cursor of tenant's list: the key the next page starts after. A cursor of
// another tenant's list, or none Herald made, is a FieldError for "cursor".
func After(tenant, cursor string) (string, error) {
	bad := &stagehooks.FieldError{Field: "cursor", Reason: "is not a cursor of this list"}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", bad
	}
	n, size := binary.Uvarint(raw)
	if size <= 0 || n != uint64(len(tenant)) || len(raw)-size < len(tenant) {
		return "", bad
	}
	owner, key := string(raw[size:size+len(tenant)]), string(raw[size+len(tenant):])
	if owner != tenant || key == "" {
		return "", bad
	}
	return key, nil
}

// Keeper records what routers did with events, for the Events page. A record that cannot be
// written is logged and counted, never returned: the event was handled, and retrying it for
// its record's sake would deliver it again.
type Keeper struct {
	Recorder Recorder
	Counter  telemetry.Counter
	Logger   *slog.Logger
}

// Worth reports whether r is kept: a rejected event, or a valid one that would have fired a
// webhook had one been on its stage. Routed events are in the delivery log; events for which
// nothing is configured by design (a transition between review stages, a label event nobody
// subscribed to) are the bulk of the traffic and would cost a write each for nothing.
func (r Record) Worth() bool {
	return ValidTenant(r.TenantID) && (r.Outcome == Rejected || r.Outcome == NoMatch && r.Reason == ReasonNoWebhook)
}

// Keep records r, stamped now, under the tenant it names, if it is Worth keeping.
func (k Keeper) Keep(ctx context.Context, r Record) {
	if k.Recorder == nil || !r.Worth() {
		return
	}
	r.At = time.Now()
	if err := k.Recorder.RecordInbound(ctx, r); err != nil {
		if k.Logger != nil {
			k.Logger.Warn("record what became of an inbound event", "event_id", r.EventID, "router", r.Router, "error", err)
		}
		if k.Counter != nil {
			k.Counter.Count(telemetry.InboundRecordsLost, r.Router)
		}
	}
}
