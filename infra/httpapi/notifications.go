package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/slack"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// NotificationStore is the notification storage the API needs.
type NotificationStore interface {
	CreateNotification(ctx context.Context, n notifications.Notification) error
	GetNotification(ctx context.Context, tenant, id string) (notifications.Notification, error)
	ListNotifications(ctx context.Context, tenant string, q notifications.Query) (notifications.Page, error)
	UpdateNotification(ctx context.Context, n notifications.Notification, expectedVersion int64) (notifications.Notification, error)
	DeleteNotification(ctx context.Context, tenant, id string) error
}

// SlackChannelStore is the Slack channel storage the API needs: a user's connected channels,
// which all of that user's notifications share.
type SlackChannelStore interface {
	SaveChannel(ctx context.Context, ch slack.Channel) error
	// ListChannels returns owner's channels without their webhook URLs.
	ListChannels(ctx context.Context, tenant, owner string) ([]slack.Channel, error)
	// GetChannels returns those of ids that are owner's channels in tenant; the others are
	// absent.
	GetChannels(ctx context.Context, tenant, owner string, ids []string) (map[string]slack.Channel, error)
	// DeleteChannel returns stagehooks.ErrNotFound when owner has no such channel.
	DeleteChannel(ctx context.Context, tenant, owner, id string) error
}

// The request body of a create and of an update. Every field is a pointer so that an update
// can tell "replace with empty" from "leave as is"; a create takes an absent field as empty.
type notificationInput struct {
	Title       *string        `json:"title"`
	Description *string        `json:"description"`
	Projects    *[]string      `json:"projects"`
	Channels    *channelsInput `json:"channels"`
	Triggers    *triggersInput `json:"triggers"`
}

type channelsInput struct {
	SlackChannels *[]string             `json:"slack_channels"`
	Emails        *[]string             `json:"emails"`
	Webhooks      *[]notificationHookIn `json:"webhooks"`
}

// notificationHookIn is one webhook of a notification in a request: without an id it is a new
// webhook; with one it must be one of the notification's own (webhooks are never attached).
type notificationHookIn struct {
	ID                 *string `json:"id"`
	URL                *string `json:"url"`
	Enabled            *bool   `json:"enabled"`
	RateLimitPerSecond *int    `json:"rate_limit_per_second"`
	Ordered            *bool   `json:"ordered"`
}

type triggersInput struct {
	Events  *[]string      `json:"events"`
	Digests *[]digestInput `json:"digests"`
}

type digestInput struct {
	TimesOfDay []string `json:"times_of_day"`
	TimeZone   string   `json:"time_zone"`
	// Period is a Go duration such as "24h"; empty means notifications.DefaultDigestPeriod.
	Period    string `json:"period"`
	SkipEmpty bool   `json:"skip_empty"`
}

// notificationView is a notification as the API shows it. Its webhooks' secrets appear only
// in the response that created them.
type notificationView struct {
	ID          string       `json:"id"`
	Title       string       `json:"title"`
	Description string       `json:"description"`
	OwnerID     string       `json:"owner_id"`
	Projects    []string     `json:"projects"`
	Channels    channelsView `json:"channels"`
	Triggers    triggersView `json:"triggers"`
	Version     int64        `json:"version"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

type channelsView struct {
	SlackChannels []string               `json:"slack_channels"`
	Emails        []string               `json:"emails"`
	Webhooks      []notificationHookView `json:"webhooks"`
}

type notificationHookView struct {
	ID             string `json:"id"`
	URL            string `json:"url"`
	Enabled        bool   `json:"enabled"`
	DisabledReason string `json:"disabled_reason,omitempty"`
	// RateLimitPerSecond is left out when the webhook has no limit.
	RateLimitPerSecond int `json:"rate_limit_per_second,omitempty"`
	// Ordered is always shown, false included, as enabled is.
	Ordered bool `json:"ordered"`
	// Secret is set only in the response of the request that created the webhook.
	Secret string `json:"secret,omitempty"`
}

type triggersView struct {
	Events  []string     `json:"events"`
	Digests []digestView `json:"digests"`
}

type digestView struct {
	TimesOfDay []string `json:"times_of_day"`
	TimeZone   string   `json:"time_zone"`
	Period     string   `json:"period"`
	SkipEmpty  bool     `json:"skip_empty"`
}

// notificationViewOf shows n; newSecrets are the secrets of webhooks this request created, by
// webhook id.
func notificationViewOf(n notifications.Notification, newSecrets map[string]string) notificationView {
	v := notificationView{
		ID: n.ID, Title: n.Title, Description: n.Description, OwnerID: n.OwnerID, Projects: orEmpty(n.Projects),
		Channels: channelsView{
			SlackChannels: orEmpty(n.Channels.SlackChannels), Emails: orEmpty(n.Channels.Emails),
			Webhooks: make([]notificationHookView, 0, len(n.Channels.Webhooks)),
		},
		Triggers:  triggersView{Events: make([]string, 0, len(n.Triggers.Events)), Digests: make([]digestView, 0, len(n.Triggers.Digests))},
		Version:   n.Version,
		CreatedAt: n.CreatedAt.UTC(), UpdatedAt: n.UpdatedAt.UTC(),
	}
	for _, w := range n.Channels.Webhooks {
		v.Channels.Webhooks = append(v.Channels.Webhooks, notificationHookView{
			ID: w.ID, URL: w.URL, Enabled: w.Enabled, DisabledReason: w.DisabledReason, RateLimitPerSecond: w.RateLimitPerSecond,
			Ordered: w.Ordered, Secret: newSecrets[w.ID],
		})
	}
	for _, e := range n.Triggers.Events {
		v.Triggers.Events = append(v.Triggers.Events, string(e))
	}
	for _, d := range n.Triggers.Digests {
		period := d.Period
		if period == 0 {
			period = notifications.DefaultDigestPeriod
		}
		v.Triggers.Digests = append(v.Triggers.Digests, digestView{TimesOfDay: orEmpty(d.TimesOfDay), TimeZone: d.TimeZone, Period: formatPeriod(period), SkipEmpty: d.SkipEmpty})
	}
	return v
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// formatPeriod writes a period as it is usually given: "24h", "1h30m", not Go's "24h0m0s".
func formatPeriod(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// apply returns base changed as in asks, for the caller p: the fields in has are replaced,
// new webhooks get an id and a signing secret (returned by id), existing ones keep theirs. It
// checks everything notifications.Validate checks and what only the API can: webhook URLs
// against the URL policy, webhook ids against the notification's own, and Slack channels
// against the caller's. All problems come back together as field issues.
func (s *Server) apply(r *http.Request, p Principal, base notifications.Notification, in notificationInput, creating bool) (notifications.Notification, map[string]string, []FieldIssue, error) {
	next := base
	var issues []FieldIssue
	if in.Title != nil {
		next.Title = *in.Title
	}
	if in.Description != nil {
		next.Description = *in.Description
	}
	if in.Projects != nil {
		next.Projects = *in.Projects
	}
	secrets := map[string]string{}
	if c := in.Channels; c != nil {
		if c.SlackChannels != nil {
			next.Channels.SlackChannels = *c.SlackChannels
		}
		if c.Emails != nil {
			next.Channels.Emails = *c.Emails
		}
		if c.Webhooks != nil {
			hooks, hookIssues, err := s.applyWebhooks(r, base, *c.Webhooks, creating, secrets)
			if err != nil {
				return next, nil, nil, err
			}
			next.Channels.Webhooks = hooks
			issues = append(issues, hookIssues...)
		}
	}
	if t := in.Triggers; t != nil {
		if t.Events != nil {
			next.Triggers.Events = make([]notifications.EventType, 0, len(*t.Events))
			for _, e := range *t.Events {
				next.Triggers.Events = append(next.Triggers.Events, notifications.EventType(e))
			}
		}
		if t.Digests != nil {
			next.Triggers.Digests = make([]notifications.Digest, 0, len(*t.Digests))
			for i, d := range *t.Digests {
				digest := notifications.Digest{TimesOfDay: d.TimesOfDay, TimeZone: d.TimeZone, SkipEmpty: d.SkipEmpty}
				if d.Period != "" {
					period, err := parseSpan(d.Period)
					if err != nil {
						issues = append(issues, FieldIssue{Field: fmt.Sprintf("triggers.digests[%d].period", i), Reason: err.Error()})
					}
					digest.Period = period
				}
				next.Triggers.Digests = append(next.Triggers.Digests, digest)
			}
		}
	}

	flagged := map[string]bool{}
	for _, is := range issues {
		flagged[is.Field] = true
		// A webhook refused here is missing from next; "add at least one channel" would
		// blame the request for what it did give.
		if strings.HasPrefix(is.Field, "channels.webhooks[") {
			flagged["channels"] = true
		}
	}
	for _, fe := range stagehooks.FieldErrors(next.Validate()) {
		if !flagged[fe.Field] {
			issues = append(issues, FieldIssue{Field: fe.Field, Reason: fe.Reason})
			flagged[fe.Field] = true
		}
	}
	slackIssues, err := s.checkSlackChannels(r.Context(), p, base, next, flagged)
	if err != nil {
		return next, nil, nil, err
	}
	return next, secrets, append(issues, slackIssues...), nil
}

// applyWebhooks builds a notification's webhooks from a request's list: entries without an
// id are created (a fresh id and secret each, recorded in secrets), entries with one change
// that webhook of base, and base's webhooks the list leaves out are deleted with the update.
func (s *Server) applyWebhooks(r *http.Request, base notifications.Notification, list []notificationHookIn, creating bool, secrets map[string]string) ([]notifications.Webhook, []FieldIssue, error) {
	stored := map[string]notifications.Webhook{}
	for _, w := range base.Channels.Webhooks {
		stored[w.ID] = w
	}
	var issues []FieldIssue
	hooks := make([]notifications.Webhook, 0, len(list))
	for i, e := range list {
		path := fmt.Sprintf("channels.webhooks[%d]", i)
		var w notifications.Webhook
		if e.ID != nil {
			prev, ok := stored[*e.ID]
			switch {
			case creating:
				issues = append(issues, FieldIssue{Field: path + ".id", Reason: "must be left out: a new notification's webhooks are created with it"})
				continue
			case !ok:
				issues = append(issues, FieldIssue{Field: path + ".id", Reason: "is not a webhook of this notification; webhooks cannot be attached, leave id out to create one"})
				continue
			}
			w = prev
		} else {
			id, err := newID("wh_")
			if err != nil {
				return nil, nil, err
			}
			secret, err := signing.NewSecret()
			if err != nil {
				return nil, nil, fmt.Errorf("generate a signing secret: %w", err)
			}
			w = notifications.Webhook{ID: id, Secrets: []string{secret}, Enabled: true}
			secrets[id] = secret
		}
		if e.URL != nil && *e.URL != w.URL {
			w.URL = *e.URL
			// Only a URL being saved now is checked: one saved earlier stays usable
			// whatever the policy became, as the delivery path's dial-time check still
			// guards it.
			if w.URL != "" {
				if issue := s.checkURL(r, w.URL); issue != nil {
					issues = append(issues, FieldIssue{Field: path + ".url", Reason: issue.Reason})
				}
			}
		}
		if e.Enabled != nil {
			w.Enabled = *e.Enabled
		}
		if e.RateLimitPerSecond != nil {
			w.RateLimitPerSecond = *e.RateLimitPerSecond
		}
		if e.Ordered != nil {
			w.Ordered = *e.Ordered
		}
		hooks = append(hooks, w)
	}
	return hooks, issues, nil
}

// checkSlackChannels refuses Slack channels the notification gains that are not the caller's
// own: a channel is a user's, and delivery posts to it as the notification's owner, so only the
// owner can add one. Channels the notification already has stay whoever edits it.
func (s *Server) checkSlackChannels(ctx context.Context, p Principal, base, next notifications.Notification, flagged map[string]bool) ([]FieldIssue, error) {
	var added []string
	var paths []string
	for i, id := range next.Channels.SlackChannels {
		path := fmt.Sprintf("channels.slack_channels[%d]", i)
		if !slices.Contains(base.Channels.SlackChannels, id) && !flagged[path] {
			added = append(added, id)
			paths = append(paths, path)
		}
	}
	if len(added) == 0 {
		return nil, nil
	}
	found := map[string]slack.Channel{}
	reason := "is not a Slack channel you connected (see GET /v1/slack/channels)"
	if p.UserID == next.OwnerID {
		var err error
		if found, err = s.Slack.GetChannels(ctx, p.TenantID, p.UserID, added); err != nil {
			return nil, fmt.Errorf("read slack channels of user %s: %w", p.UserID, err)
		}
	} else {
		reason = "only the notification's owner can add Slack channels: they are the owner's own"
	}
	var issues []FieldIssue
	for i, id := range added {
		if _, ok := found[id]; !ok {
			issues = append(issues, FieldIssue{Field: paths[i], Reason: reason})
		}
	}
	return issues, nil
}

func (s *Server) createNotification(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	s.idempotent(w, r, p, func(w http.ResponseWriter, r *http.Request) {
		var in notificationInput
		if err := decode(w, r, &in); err != nil {
			s.fail(w, r, err)
			return
		}
		id, err := newID("ntf_")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		now := s.Now().UTC()
		base := notifications.Notification{ID: id, TenantID: p.TenantID, OwnerID: p.UserID, Version: 1, CreatedAt: now, UpdatedAt: now}
		n, secrets, issues, err := s.apply(r, p, base, in, true)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if len(issues) > 0 {
			s.fail(w, r, validation(issues...))
			return
		}
		n = n.WithDefaults()
		if err := s.scheduleDigests(r.Context(), n); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.Notifications.CreateNotification(r.Context(), n); err != nil {
			s.fail(w, r, err)
			return
		}
		for webhookID, secret := range secrets {
			revealSecret(r.Context(), webhookID, secret)
		}
		w.Header().Set("Location", "/v1/notifications/"+id)
		setETag(w, n.Version)
		writeJSON(w, http.StatusCreated, notificationViewOf(n, secrets))
	})
}

type notificationList struct {
	Items      []notificationView `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// maxTitleSearch bounds ?title=: no title is longer (notifications.MaxTitle characters, up to
// four bytes each), so a longer search matches nothing anyway.
const maxTitleSearch = 4 * notifications.MaxTitle

func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) {
	page, prob := pageRequest(r)
	if prob != nil {
		s.fail(w, r, prob)
		return
	}
	q := r.URL.Query()
	query := notifications.Query{TitleContains: q.Get("title"), OwnerID: q.Get("owner"), Page: page}
	if len(query.TitleContains) > maxTitleSearch {
		s.fail(w, r, validation(FieldIssue{Field: "title", Reason: fmt.Sprintf("must be at most %d bytes", maxTitleSearch)}))
		return
	}
	if query.OwnerID != "" && !validID(query.OwnerID) {
		s.fail(w, r, validation(FieldIssue{Field: "owner", Reason: "must be a user id: 1 to 128 letters, digits, '-' or '_'"}))
		return
	}
	res, err := s.Notifications.ListNotifications(r.Context(), principalOf(r.Context()).TenantID, query)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := notificationList{Items: make([]notificationView, 0, len(res.Items)), NextCursor: res.NextCursor}
	for _, n := range res.Items {
		out.Items = append(out.Items, notificationViewOf(n, nil))
	}
	writeJSON(w, http.StatusOK, out)
}

// notificationOfTenant reads the tenant's notification named by the path; another tenant's
// is not found.
func (s *Server) notificationOfTenant(r *http.Request) (notifications.Notification, error) {
	id := r.PathValue("id")
	if !validID(id) {
		return notifications.Notification{}, errNotFound
	}
	return s.Notifications.GetNotification(r.Context(), principalOf(r.Context()).TenantID, id)
}

func (s *Server) getNotification(w http.ResponseWriter, r *http.Request) {
	n, err := s.notificationOfTenant(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setETag(w, n.Version)
	writeJSON(w, http.StatusOK, notificationViewOf(n, nil))
}

// updateNotification replaces the fields the body gives. Its webhooks list, when given, is
// the notification's whole set: entries without an id are created, entries with one change
// that webhook, and webhooks left out are deleted.
func (s *Server) updateNotification(w http.ResponseWriter, r *http.Request) {
	var in notificationInput
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in == (notificationInput{}) {
		s.fail(w, r, validation(FieldIssue{Field: "(body)", Reason: "set at least one of title, description, projects, channels, triggers"}))
		return
	}
	cur, err := s.notificationOfTenant(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ifMatch(r, cur.Version) {
		s.fail(w, r, errStale)
		return
	}
	p := principalOf(r.Context())
	next, secrets, issues, err := s.apply(r, p, cur, in, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(issues) > 0 {
		s.fail(w, r, validation(issues...))
		return
	}
	next.UpdatedAt = s.Now().UTC()
	if err := s.scheduleDigests(r.Context(), next); err != nil {
		s.fail(w, r, err)
		return
	}
	updated, err := s.Notifications.UpdateNotification(r.Context(), next, cur.Version)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setETag(w, updated.Version)
	writeJSON(w, http.StatusOK, notificationViewOf(updated, secrets))
}

// scheduleDigests writes when n's digests are next due, before n itself is written: a failure
// between the two leaves a schedule the digest function checks against the notification as it
// is (and drops if there is none), never a notification whose digests are not scheduled. A
// time of day n already had keeps its due time.
func (s *Server) scheduleDigests(ctx context.Context, n notifications.Notification) error {
	if s.Digests == nil {
		return nil
	}
	prev, _, err := s.Digests.GetSchedule(ctx, n.TenantID, n.ID)
	if err != nil {
		return fmt.Errorf("read the digest schedule of %s: %w", n.ID, err)
	}
	plan, err := digest.Plan(n, prev, s.Now())
	if err != nil {
		return fmt.Errorf("plan the digests of %s: %w", n.ID, err)
	}
	if err := s.Digests.PutSchedule(ctx, plan); err != nil {
		return fmt.Errorf("schedule the digests of %s: %w", n.ID, err)
	}
	return nil
}

func (s *Server) deleteNotification(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if r.Header.Get("If-Match") != "" {
		cur, err := s.notificationOfTenant(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !ifMatch(r, cur.Version) {
			s.fail(w, r, errStale)
			return
		}
	}
	if !validID(id) {
		s.fail(w, r, errNotFound)
		return
	}
	tenant := principalOf(r.Context()).TenantID
	if err := s.Notifications.DeleteNotification(r.Context(), tenant, id); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.Digests != nil {
		// Left behind, a schedule is dropped by the digest function when it comes due.
		if err := s.Digests.DeleteSchedule(r.Context(), tenant, id); err != nil {
			s.logger.Warn("delete the digest schedule of a deleted notification", "notification_id", id, "error", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// rotateNotificationWebhookSecret replaces the signing secret of one of a notification's
// webhooks, which the stage-webhook route does not reach: the previous secret keeps signing
// beside the new one for SecretOverlap, as for stage webhooks. The notification's version
// is the ETag, since its webhooks change with it.
func (s *Server) rotateNotificationWebhookSecret(w http.ResponseWriter, r *http.Request) {
	cur, err := s.notificationOfTenant(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ifMatch(r, cur.Version) {
		s.fail(w, r, errStale)
		return
	}
	i := slices.IndexFunc(cur.Channels.Webhooks, func(h notifications.Webhook) bool { return h.ID == r.PathValue("webhook_id") })
	if i < 0 {
		s.fail(w, r, errNotFound)
		return
	}
	secret, err := signing.NewSecret()
	if err != nil {
		s.fail(w, r, fmt.Errorf("generate a signing secret: %w", err))
		return
	}
	now := s.Now().UTC()
	next := cur
	next.Channels.Webhooks = slices.Clone(cur.Channels.Webhooks)
	hook := &next.Channels.Webhooks[i]
	hook.Secrets = []string{secret, hook.Secrets[0]}
	hook.PreviousSecretExpiresAt = now.Add(SecretOverlap)
	next.UpdatedAt = now
	updated, err := s.Notifications.UpdateNotification(r.Context(), next, cur.Version)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setETag(w, updated.Version)
	writeJSON(w, http.StatusOK, rotatedSecret{Secret: secret, PreviousSecretExpiresAt: hook.PreviousSecretExpiresAt, Version: updated.Version})
}

type eventInfoView struct {
	Type        string `json:"type"`
	Description string `json:"description"`
	// Source names the inbound events that produce it.
	Source string `json:"source"`
	// Produced is false while nothing the platform publishes produces the event.
	Produced bool `json:"produced"`
}

type eventCatalogue struct {
	Items []eventInfoView `json:"items"`
}

func (s *Server) listNotificationEvents(w http.ResponseWriter, _ *http.Request) {
	var out eventCatalogue
	for _, e := range notifications.Catalogue() {
		out.Items = append(out.Items, eventInfoView{Type: string(e.Type), Description: e.Description, Source: e.Source, Produced: e.Produced})
	}
	writeJSON(w, http.StatusOK, out)
}
