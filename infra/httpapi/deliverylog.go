package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
)

// DeliveryLog reads the attempt log: a webhook's attempts page by page, and one delivery with
// all of its attempts. Both stores implement it (delivery.AttemptReader).
type DeliveryLog interface {
	AttemptsOfWebhook(ctx context.Context, tenant, webhookID string, q delivery.AttemptQuery) (delivery.AttemptPage, error)
	AttemptsOfDelivery(ctx context.Context, tenant, deliveryID string) ([]delivery.Attempt, error)
}

// attemptView is one attempt as the API shows it. It carries what a user needs to see why a
// delivery failed (HTTP status, failure class, latency, the start of the receiver's answer)
// and never the payload, which only the delivery's own view includes: a page of a hundred
// attempts would otherwise repeat up to a hundred payloads.
type attemptView struct {
	DeliveryID    string     `json:"delivery_id"`
	WebhookID     string     `json:"webhook_id"`
	EventType     string     `json:"event_type"`
	Attempt       int        `json:"attempt"`
	At            time.Time  `json:"at"`
	StatusCode    int        `json:"status_code,omitempty"`
	Class         string     `json:"class,omitempty"`
	LatencyMS     int64      `json:"latency_ms"`
	Snippet       string     `json:"snippet,omitempty"`
	Outcome       string     `json:"outcome"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

func attemptViewOf(a delivery.Attempt) attemptView {
	v := attemptView{
		DeliveryID: a.DeliveryID, WebhookID: a.WebhookID, EventType: a.EventType, Attempt: a.Number, At: a.At.UTC(),
		StatusCode: a.StatusCode, Class: string(a.ErrorClass), LatencyMS: a.Latency.Milliseconds(),
		Snippet: a.ResponseSnippet, Outcome: string(a.Outcome),
	}
	if !a.NextAttemptAt.IsZero() {
		next := a.NextAttemptAt.UTC()
		v.NextAttemptAt = &next
	}
	return v
}

type attemptList struct {
	Items      []attemptView `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// outcomes are the values ?status= accepts, in the order the document lists them.
var outcomes = []delivery.Outcome{delivery.OutcomeSucceeded, delivery.OutcomeRetrying, delivery.OutcomeDeadLettered, delivery.OutcomeDisabled}

// attemptQuery reads ?status=, ?since=, ?limit= and ?cursor=, naming the parameter at fault.
func attemptQuery(r *http.Request) (delivery.AttemptQuery, *Problem) {
	q := r.URL.Query()
	out := delivery.AttemptQuery{Cursor: q.Get("cursor")}
	var issues []FieldIssue
	if v := q.Get("status"); v != "" {
		for _, o := range outcomes {
			if v == string(o) {
				out.Outcome = o
			}
		}
		if out.Outcome == "" {
			issues = append(issues, FieldIssue{Field: "status", Reason: "must be one of succeeded, retrying, dead_lettered, webhook_disabled"})
		}
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			issues = append(issues, FieldIssue{Field: "since", Reason: "must be an RFC 3339 time such as 2026-05-01T09:00:00Z"})
		}
		out.Since = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > delivery.MaxAttemptPage {
			issues = append(issues, FieldIssue{Field: "limit", Reason: fmt.Sprintf("must be an integer from 1 to %d", delivery.MaxAttemptPage)})
		}
		out.Limit = n
	}
	if len(issues) > 0 {
		return out, validation(issues...)
	}
	return out, nil
}

// logQueryProblem maps the log's own refusals of a query to the parameter at fault.
func logQueryProblem(err error) error {
	switch {
	case errors.Is(err, delivery.ErrInvalidCursor):
		return validation(FieldIssue{Field: "cursor", Reason: "is not a cursor this list issued"})
	case errors.Is(err, delivery.ErrInvalidQuery):
		// Everything else Resolve refuses has been checked here already, except a since
		// outside the years the stores can order.
		return validation(FieldIssue{Field: "since", Reason: "must be between the years 0001 and 9999"})
	}
	return err
}

// webhookOfTenant checks that the tenant has a webhook with id, a stage webhook or one of a
// notification's (the delivery path finds both the same way, and so does the log). Another
// tenant's webhook is not found.
func (s *Server) webhookOfTenant(ctx context.Context, tenant, id string) error {
	if !validID(id) {
		return errNotFound
	}
	ref := delivery.EndpointRef{TenantID: tenant, WebhookID: id}
	found, err := s.Endpoints.Endpoints(ctx, []delivery.EndpointRef{ref})
	if err != nil {
		return fmt.Errorf("look up webhook %s: %w", id, err)
	}
	if _, ok := found[ref]; !ok {
		return errNotFound
	}
	return nil
}

func (s *Server) listWebhookAttempts(w http.ResponseWriter, r *http.Request) {
	tenant := principalOf(r.Context()).TenantID
	id := r.PathValue("id")
	if err := s.webhookOfTenant(r.Context(), tenant, id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeAttempts(w, r, tenant, id)
}

// writeAttempts answers with a page of the attempts of one endpoint (a webhook or a Slack
// channel) of tenant, filtered as the query asks.
func (s *Server) writeAttempts(w http.ResponseWriter, r *http.Request, tenant, id string) {
	q, prob := attemptQuery(r)
	if prob != nil {
		s.fail(w, r, prob)
		return
	}
	page, err := s.Log.AttemptsOfWebhook(r.Context(), tenant, id, q)
	if err != nil {
		s.fail(w, r, logQueryProblem(err))
		return
	}
	out := attemptList{Items: make([]attemptView, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, a := range page.Items {
		out.Items = append(out.Items, attemptViewOf(a))
	}
	writeJSON(w, http.StatusOK, out)
}

// deliveryView is one delivery with every attempt, oldest first, and the payload that was
// sent: the one view that shows it, so that a user can see what a receiver refused.
type deliveryView struct {
	ID        string        `json:"id"`
	WebhookID string        `json:"webhook_id"`
	EventType string        `json:"event_type"`
	Outcome   string        `json:"outcome"`
	Attempts  []attemptView `json:"attempts"`
	// Payload is absent when it was too large to log (and the delivery cannot be sent again).
	Payload json.RawMessage `json:"payload,omitempty"`
}

func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) {
	tenant := principalOf(r.Context()).TenantID
	id := r.PathValue("id")
	if !validID(id) {
		s.fail(w, r, errNotFound)
		return
	}
	attempts, err := s.Log.AttemptsOfDelivery(r.Context(), tenant, id)
	if err != nil {
		s.fail(w, r, fmt.Errorf("read delivery %s: %w", id, err))
		return
	}
	if len(attempts) == 0 {
		s.fail(w, r, errNotFound)
		return
	}
	// The store returns them in time order, each redelivery's after the earlier ones.
	last := attempts[len(attempts)-1]
	out := deliveryView{ID: id, WebhookID: last.WebhookID, EventType: last.EventType, Outcome: string(last.Outcome),
		Attempts: make([]attemptView, 0, len(attempts))}
	for _, a := range attempts {
		out.Attempts = append(out.Attempts, attemptViewOf(a))
		if len(a.Payload) > 0 {
			out.Payload = a.Payload
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type redeliveryResponse struct {
	DeliveryID string `json:"delivery_id"`
	WebhookID  string `json:"webhook_id"`
	EventType  string `json:"event_type"`
}

// redeliver queues a recorded delivery again under its own id, so the receiver sees the same
// webhook-id and can tell the copy from a new event.
func (s *Server) redeliver(w http.ResponseWriter, r *http.Request) {
	tenant := principalOf(r.Context()).TenantID
	id := r.PathValue("id")
	if !validID(id) {
		s.fail(w, r, errNotFound)
		return
	}
	job, err := s.redeliverer().Redeliver(r.Context(), tenant, id)
	switch {
	case errors.Is(err, delivery.ErrDeliveryNotFound):
		err = errNotFound
	case errors.Is(err, delivery.ErrPayloadNotRecorded):
		err = problem(http.StatusConflict, "payload-not-recorded", "Payload not recorded",
			fmt.Sprintf("the payload of this delivery was over %d bytes and was not logged, so it cannot be sent again", delivery.MaxLoggedPayload))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, redeliveryResponse{DeliveryID: job.ID, WebhookID: job.WebhookID, EventType: job.EventType})
}

type recoverRequest struct {
	Since *string `json:"since"`
	Limit *int    `json:"limit"`
}

type recoverResponse struct {
	Queued int `json:"queued"`
}

// recoverDeliveries queues again every delivery of the webhook that failed for good since a
// time, typically the start of the receiver's outage.
func (s *Server) recoverDeliveries(w http.ResponseWriter, r *http.Request) {
	tenant := principalOf(r.Context()).TenantID
	id := r.PathValue("id")
	if err := s.webhookOfTenant(r.Context(), tenant, id); err != nil {
		s.fail(w, r, err)
		return
	}
	var req recoverRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	var issues []FieldIssue
	var since time.Time
	switch {
	case req.Since == nil:
		issues = append(issues, FieldIssue{Field: "since", Reason: "is required: the start of the outage, an RFC 3339 time"})
	default:
		t, err := time.Parse(time.RFC3339, *req.Since)
		switch {
		case err != nil:
			issues = append(issues, FieldIssue{Field: "since", Reason: "must be an RFC 3339 time such as 2026-05-01T09:00:00Z"})
		case t.After(s.Now()):
			issues = append(issues, FieldIssue{Field: "since", Reason: "is in the future"})
		case t.UTC().Year() < 1:
			issues = append(issues, FieldIssue{Field: "since", Reason: "must be between the years 0001 and 9999"})
		}
		since = t
	}
	limit := delivery.MaxRecover
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > delivery.MaxRecover {
			issues = append(issues, FieldIssue{Field: "limit", Reason: fmt.Sprintf("must be from 1 to %d", delivery.MaxRecover)})
		}
		limit = *req.Limit
	}
	if len(issues) > 0 {
		s.fail(w, r, validation(issues...))
		return
	}
	queued, err := s.redeliverer().Recover(r.Context(), tenant, id, since, limit)
	if err != nil {
		// What was queued stays queued; calling again queues the rest, and receivers
		// deduplicate anything queued twice by its webhook-id.
		s.fail(w, r, fmt.Errorf("recover stopped after queueing %d: %w", queued, logQueryProblem(err)))
		return
	}
	writeJSON(w, http.StatusAccepted, recoverResponse{Queued: queued})
}

// redeliverer sends recorded deliveries again through the delivery queue the API already
// uses for test events.
func (s *Server) redeliverer() *delivery.Redeliverer {
	return &delivery.Redeliverer{Log: s.Log, Queue: s.Jobs, Now: s.Now}
}
