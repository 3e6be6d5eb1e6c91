package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/outbound"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// SecretOverlap is how long a rotated-out secret keeps signing beside the new one, so that
// receivers can switch at their own pace without rejecting a delivery.
const SecretOverlap = 24 * time.Hour

// webhookView is a stage webhook as the API shows it: never with its secrets.
type webhookView struct {
	ID             string `json:"id"`
	ProjectHash    string `json:"project_hash"`
	StageUUID      string `json:"stage_uuid"`
	StageType      string `json:"stage_type"`
	URL            string `json:"url"`
	Enabled        bool   `json:"enabled"`
	DisabledReason string `json:"disabled_reason,omitempty"`
	// RateLimitPerSecond is left out when the webhook has no limit.
	RateLimitPerSecond int    `json:"rate_limit_per_second,omitempty"`
	AlertEmail         string `json:"alert_email,omitempty"`
	// Ordered is always shown, false included, as enabled is.
	Ordered   bool      `json:"ordered"`
	OwnerID   string    `json:"owner_id"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewOf(w stagehooks.Webhook) webhookView {
	return webhookView{
		ID: w.ID, ProjectHash: w.ProjectHash, StageUUID: w.StageUUID, StageType: string(w.StageType), URL: w.URL,
		Enabled: w.Enabled, DisabledReason: w.DisabledReason, RateLimitPerSecond: w.RateLimitPerSecond, AlertEmail: w.AlertEmail, Ordered: w.Ordered,
		OwnerID: w.OwnerID, Version: w.Version,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
	}
}

// withSecret is the one response that carries a secret: creation.
type withSecret struct {
	webhookView
	Secret string `json:"secret"`
}

type createWebhookRequest struct {
	ProjectHash string `json:"project_hash"`
	StageUUID   string `json:"stage_uuid"`
	StageType   string `json:"stage_type"`
	URL         string `json:"url"`
	Enabled     *bool  `json:"enabled"`
	// RateLimitPerSecond caps the attempts sent in any second; absent or 0 is no limit.
	RateLimitPerSecond int `json:"rate_limit_per_second"`
	// AlertEmail is told when Herald disables the webhook for failing.
	AlertEmail string `json:"alert_email"`
	// Ordered asks for deliveries in the order Herald accepted the events; absent is false.
	Ordered bool `json:"ordered"`
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	s.idempotent(w, r, p, func(w http.ResponseWriter, r *http.Request) {
		var req createWebhookRequest
		if err := decode(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		secret, err := signing.NewSecret()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		id, err := newID("wh_")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		now := s.Now().UTC()
		hook := stagehooks.Webhook{
			ID: id, TenantID: p.TenantID, OwnerID: p.UserID, ProjectHash: req.ProjectHash, StageUUID: req.StageUUID,
			StageType: stagehooks.StageType(req.StageType), URL: req.URL, Secrets: []string{secret}, Enabled: req.Enabled == nil || *req.Enabled,
			RateLimitPerSecond: req.RateLimitPerSecond, AlertEmail: req.AlertEmail, Ordered: req.Ordered, Version: 1, CreatedAt: now, UpdatedAt: now,
		}
		// Every problem at once: the domain's rules, then the URL policy (which resolves DNS)
		// only for a URL that passed them.
		issues := requiredIssues(map[string]string{"project_hash": req.ProjectHash, "stage_uuid": req.StageUUID, "stage_type": req.StageType, "url": req.URL})
		issues = mergeIssues(issues, issuesOf(hook.Validate()))
		if !hasIssue(issues, "url") {
			if issue := s.checkURL(r, req.URL); issue != nil {
				issues = append(issues, *issue)
			}
		}
		if len(issues) > 0 {
			s.fail(w, r, validation(issues...))
			return
		}
		if err := s.Webhooks.CreateWebhook(r.Context(), hook); err != nil {
			s.fail(w, r, err)
			return
		}
		revealSecret(r.Context(), id, secret)
		w.Header().Set("Location", "/v1/webhooks/"+id)
		setETag(w, hook.Version)
		writeJSON(w, http.StatusCreated, withSecret{webhookView: viewOf(hook), Secret: secret})
	})
}

// requiredIssues says which of the named fields are empty, in field order.
func requiredIssues(fields map[string]string) []FieldIssue {
	var issues []FieldIssue
	for name, value := range fields {
		if value == "" {
			issues = append(issues, FieldIssue{Field: name, Reason: "is required"})
		}
	}
	slices.SortFunc(issues, func(a, b FieldIssue) int { return strings.Compare(a.Field, b.Field) })
	return issues
}

// issuesOf turns a validator's joined field errors into issues.
func issuesOf(err error) []FieldIssue {
	var issues []FieldIssue
	for _, fe := range stagehooks.FieldErrors(err) {
		issues = append(issues, FieldIssue{Field: fe.Field, Reason: fe.Reason})
	}
	return issues
}

// mergeIssues appends the issues of more whose field issues does not name yet: one reason per
// field, the first found.
func mergeIssues(issues, more []FieldIssue) []FieldIssue {
	for _, is := range more {
		if !hasIssue(issues, is.Field) {
			issues = append(issues, is)
		}
	}
	return issues
}

func hasIssue(issues []FieldIssue, field string) bool {
	return slices.ContainsFunc(issues, func(is FieldIssue) bool { return is.Field == field })
}

// checkURL applies the URL policy and says what is wrong with a URL as a field issue.
func (s *Server) checkURL(r *http.Request, raw string) *FieldIssue {
	err := outbound.CheckURL(r.Context(), raw, s.URLs.AllowInsecure, s.URLs.AllowLoopback, s.URLs.Resolver)
	if err == nil {
		return nil
	}
	var ue *outbound.URLError
	if errors.As(err, &ue) {
		return &FieldIssue{Field: "url", Reason: ue.Error()}
	}
	return &FieldIssue{Field: "url", Reason: "is not a usable webhook URL"}
}

type webhookList struct {
	Items      []webhookView `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	page, prob := pageRequest(r)
	if prob != nil {
		s.fail(w, r, prob)
		return
	}
	res, err := s.Webhooks.ListWebhooks(r.Context(), principalOf(r.Context()).TenantID, page)
	if err != nil {
		if errors.Is(err, stagehooks.ErrInvalidCursor) {
			err = validation(FieldIssue{Field: "cursor", Reason: "is not a cursor this list issued"})
		}
		s.fail(w, r, err)
		return
	}
	out := webhookList{Items: make([]webhookView, 0, len(res.Items)), NextCursor: res.NextCursor}
	for _, hook := range res.Items {
		out.Items = append(out.Items, viewOf(hook))
	}
	writeJSON(w, http.StatusOK, out)
}

// pageRequest reads ?limit= and ?cursor=.
func pageRequest(r *http.Request) (stagehooks.PageRequest, *Problem) {
	q := r.URL.Query()
	page := stagehooks.PageRequest{Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return page, validation(FieldIssue{Field: "limit", Reason: "must be an integer from 1 to 100"})
		}
		page.Limit = n
	}
	return page, nil
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) {
	hook, err := s.Webhooks.GetWebhook(r.Context(), principalOf(r.Context()).TenantID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setETag(w, hook.Version)
	writeJSON(w, http.StatusOK, viewOf(hook))
}

type updateWebhookRequest struct {
	URL                *string `json:"url"`
	Enabled            *bool   `json:"enabled"`
	RateLimitPerSecond *int    `json:"rate_limit_per_second"`
	AlertEmail         *string `json:"alert_email"`
	Ordered            *bool   `json:"ordered"`
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) {
	var req updateWebhookRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.URL == nil && req.Enabled == nil && req.RateLimitPerSecond == nil && req.AlertEmail == nil && req.Ordered == nil {
		s.fail(w, r, validation(FieldIssue{Field: "(body)", Reason: "set one or more of url, enabled, rate_limit_per_second, alert_email and ordered"}))
		return
	}
	if req.AlertEmail != nil && *req.AlertEmail != "" {
		if reason := stagehooks.EmailReason(*req.AlertEmail); reason != "" {
			s.fail(w, r, validation(FieldIssue{Field: "alert_email", Reason: reason}))
			return
		}
	}
	if req.RateLimitPerSecond != nil {
		if issues := issuesOf(stagehooks.RateLimitFieldError("rate_limit_per_second", *req.RateLimitPerSecond)); len(issues) > 0 {
			s.fail(w, r, validation(issues...))
			return
		}
	}
	if req.URL != nil {
		if issue := s.checkURL(r, *req.URL); issue != nil {
			s.fail(w, r, validation(*issue))
			return
		}
	}
	s.modify(w, r, func(hook *stagehooks.Webhook) {
		if req.URL != nil {
			hook.URL = *req.URL
		}
		if req.Enabled != nil {
			hook.Enabled = *req.Enabled
		}
		if req.RateLimitPerSecond != nil {
			hook.RateLimitPerSecond = *req.RateLimitPerSecond
		}
		if req.AlertEmail != nil {
			hook.AlertEmail = *req.AlertEmail
		}
		if req.Ordered != nil {
			hook.Ordered = *req.Ordered
		}
	}, func(hook stagehooks.Webhook) any { return viewOf(hook) })
}

// modify reads the webhook, checks If-Match, applies change and writes it back conditioned on
// the version it read, so a concurrent writer makes this one fail with 412, never lose.
func (s *Server) modify(w http.ResponseWriter, r *http.Request, change func(*stagehooks.Webhook), respond func(stagehooks.Webhook) any) {
	tenant := principalOf(r.Context()).TenantID
	hook, err := s.Webhooks.GetWebhook(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ifMatch(r, hook.Version) {
		s.fail(w, r, errStale)
		return
	}
	expected := hook.Version
	change(&hook)
	hook.UpdatedAt = s.Now().UTC()
	updated, err := s.Webhooks.UpdateWebhook(r.Context(), hook, expected)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setETag(w, updated.Version)
	writeJSON(w, http.StatusOK, respond(updated))
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	tenant := principalOf(r.Context()).TenantID
	if r.Header.Get("If-Match") != "" {
		hook, err := s.Webhooks.GetWebhook(r.Context(), tenant, r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !ifMatch(r, hook.Version) {
			s.fail(w, r, errStale)
			return
		}
	}
	if err := s.Webhooks.DeleteWebhook(r.Context(), tenant, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type rotatedSecret struct {
	Secret                  string    `json:"secret"`
	PreviousSecretExpiresAt time.Time `json:"previous_secret_expires_at"`
	Version                 int64     `json:"version"`
}

func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request) {
	secret, err := signing.NewSecret()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	expires := s.Now().UTC().Add(SecretOverlap)
	s.modify(w, r, func(hook *stagehooks.Webhook) {
		// The current secret keeps signing beside the new one for SecretOverlap; an older one
		// still overlapping from a previous rotation is dropped now.
		hook.Secrets = []string{secret, hook.Secrets[0]}
		hook.PreviousSecretExpiresAt = expires
	}, func(hook stagehooks.Webhook) any {
		return rotatedSecret{Secret: secret, PreviousSecretExpiresAt: expires, Version: hook.Version}
	})
}

type testEventResponse struct {
	DeliveryID string `json:"delivery_id"`
	EventType  string `json:"event_type"`
}

// sendTestEvent queues a delivery of the webhook's own event type, built from a synthetic
// transition of its stage, through the same queue and delivery function as real events.
func (s *Server) sendTestEvent(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	hook, err := s.Webhooks.GetWebhook(r.Context(), p.TenantID, r.PathValue("id"))
	if errors.Is(err, stagehooks.ErrNotFound) && s.webhookOfTenant(r.Context(), p.TenantID, r.PathValue("id")) == nil {
		// A notification's webhook: it is sent what its notification sends, a task that left
		// an Annotate stage, on a project of the test's own.
		hook = stagehooks.Webhook{ID: r.PathValue("id"), ProjectHash: "test-" + uuid.NewString(), StageUUID: uuid.NewString(), StageType: stagehooks.StageAnnotate}
		err = nil
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := stagetransition.Detail{
		SchemaVersion: stagetransition.SchemaVersion, TenantID: p.TenantID, ProjectHash: hook.ProjectHash, TaskID: uuid.NewString(),
		DataHashes: []string{uuid.NewString()}, LabelHashes: []string{uuid.NewString()},
		ToStage:    stagetransition.Stage{UUID: hook.StageUUID, Type: stagetransition.StageType(hook.StageType)},
		OccurredAt: s.Now().UTC(),
	}
	eventType := stagehooks.EventTaskCompleted
	if hook.StageType == stagehooks.StageAnnotate {
		eventType = stagehooks.EventTaskSubmitted
		d.FromStage = &stagetransition.Stage{UUID: hook.StageUUID, Type: stagetransition.Annotate}
		d.ToStage = stagetransition.Stage{UUID: uuid.NewString(), Type: stagetransition.Review}
	}
	uid := uuid.NewString()
	body, err := stagehooks.BuildPayload(d, eventType, uid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	job := delivery.Job{ID: uid, TenantID: p.TenantID, WebhookID: hook.ID, EventType: eventType, Payload: body}
	if err := s.Jobs.Enqueue(r.Context(), []delivery.Job{job}); err != nil {
		s.fail(w, r, fmt.Errorf("queue test event for webhook %s: %w", hook.ID, err))
		return
	}
	writeJSON(w, http.StatusAccepted, testEventResponse{DeliveryID: uid, EventType: eventType})
}

// ETags are the record's version: a strong validator, since any change bumps it.
func setETag(w http.ResponseWriter, version int64) {
	w.Header().Set("ETag", `"`+strconv.FormatInt(version, 10)+`"`)
}

// ifMatch reports whether the request's If-Match (if any) names the current version.
func ifMatch(r *http.Request, version int64) bool {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return true
	}
	want := `"` + strconv.FormatInt(version, 10) + `"`
	for _, tag := range strings.Split(h, ",") {
		if strings.TrimSpace(tag) == want {
			return true
		}
	}
	return false
}

func newID(prefix string) (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}
