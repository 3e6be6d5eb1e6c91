// Package notifications is the policy of Manual QA notifications: a titled set of projects
// whose events (reactive triggers) or scheduled summaries (digests) reach Slack channels, email
// addresses and webhooks. A notification's webhooks belong to it alone: they are created,
// changed and deleted with it, never attached to or shared with another.
//
// The stores keep a notification's webhooks as ordinary webhook records beside the stage
// webhooks, so the delivery path reads, signs and disables them the same way; the stage-webhook
// methods never return or touch them.
package notifications

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	// Time zones must load the same on every machine, tzdata package or not: Lambda's
	// provided.al2023 runtime has no /usr/share/zoneinfo.
	_ "time/tzdata"
	"unicode/utf8"

	"github.com/heraldhq/herald/shared/outbound"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// Error kinds, the same values as stagehooks' so one mapping at the API's edge serves both.
var (
	ErrInvalid         = stagehooks.ErrInvalid
	ErrNotFound        = stagehooks.ErrNotFound
	ErrExists          = stagehooks.ErrExists
	ErrVersionConflict = stagehooks.ErrVersionConflict
)

// Limits. A notification is one DynamoDB item plus one per webhook, written in one
// TransactWriteItems (at most 100 items); the caps keep an update, which may delete every old
// webhook and create every new one, at 1 + 2×MaxWebhooks items, and the item far below
// DynamoDB's 400 KB.
const (
	MaxTitle         = 200
	MaxDescription   = 2000
	MaxProjects      = 100
	MaxSlackChannels = 20
	MaxEmails        = 50
	MaxWebhooks      = 10
	MaxDigests       = 10
	MaxTimesOfDay    = 24
	// MaxURL is every webhook's URL limit, stage webhooks' included.
	MaxURL = outbound.MaxURLLength

	DefaultDigestPeriod = 24 * time.Hour
	MinDigestPeriod     = time.Hour
	MaxDigestPeriod     = 7 * 24 * time.Hour
)

// Notification is one Manual QA notification of a tenant.
type Notification struct {
	ID          string
	TenantID    string
	OwnerID     string
	Title       string
	Description string
	// Projects are the project hashes whose activity the notification reports.
	Projects []string
	Channels Channels
	Triggers Triggers
	// Version is 1 when created and grows by one with every change, including the delivery
	// path disabling one of its webhooks; it is the API's ETag.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time

	// allowNoChannel is set by ValidateStored only.
	allowNoChannel bool
}

// Channels are where a notification goes; at least one is required.
type Channels struct {
	// SlackChannels are IDs of the owner's connected Slack channels, which all of the owner's
	// notifications share.
	SlackChannels []string
	Emails        []string
	// Webhooks are the notification's own webhooks, in the order given.
	Webhooks []Webhook
}

// Webhook is a webhook of one notification. Its ID lives in the same namespace as the tenant's
// stage webhooks (the delivery path finds both by tenant and id).
type Webhook struct {
	ID  string
	URL string
	// Secrets sign deliveries, newest first; the API generates them.
	Secrets []string
	// PreviousSecretExpiresAt ends a secret rotation, as stagehooks.Webhook's does; zero when
	// none is under way.
	PreviousSecretExpiresAt time.Time
	Enabled                 bool
	// DisabledReason is set by the delivery path (a 410 from the receiver) and cleared when
	// the webhook is enabled again; the stores ignore what callers put here.
	DisabledReason string
	// RateLimitPerSecond is as stagehooks.Webhook's.
	RateLimitPerSecond int
	// Ordered is as stagehooks.Webhook's; Subscription tells the event path which webhooks
	// have it.
	Ordered bool
}

// Triggers say when a notification fires; at least one event or digest is required.
type Triggers struct {
	Events  []EventType
	Digests []Digest
}

// Digest sends a summary of the activity of the last Period at each of TimesOfDay.
type Digest struct {
	// TimesOfDay are "HH:MM", 24-hour clock, in TimeZone.
	TimesOfDay []string
	// TimeZone is an IANA name such as "Europe/London".
	TimeZone string
	// Period is the span each summary covers; zero means DefaultDigestPeriod.
	Period time.Duration
	// SkipEmpty sends nothing for a period without activity; by default such a digest says
	// there was none.
	SkipEmpty bool
}

// Subscription is what the event path needs of a notification that covers a project: whom to
// tell, through which channels, on which triggers. It never carries a webhook's URL or secret;
// the delivery path reads those from the webhook's own record.
type Subscription struct {
	TenantID       string
	NotificationID string
	OwnerID        string
	// Title names the notification in the messages it sends.
	Title         string
	Events        []EventType
	Digests       []Digest
	SlackChannels []string
	Emails        []string
	WebhookIDs    []string
	// OrderedWebhookIDs are those of WebhookIDs whose webhooks take deliveries in order, in the
	// same order: their jobs go to the ordered queue.
	OrderedWebhookIDs []string
}

// Ordered reports whether the webhook id takes its deliveries in order.
func (s Subscription) Ordered(webhookID string) bool {
	return slices.Contains(s.OrderedWebhookIDs, webhookID)
}

// SubscriptionOf returns what the event path needs of n.
func SubscriptionOf(n Notification) Subscription {
	sub := Subscription{
		TenantID: n.TenantID, NotificationID: n.ID, OwnerID: n.OwnerID, Title: n.Title, Events: n.Triggers.Events, Digests: n.Triggers.Digests,
		SlackChannels: n.Channels.SlackChannels, Emails: n.Channels.Emails,
	}
	for _, w := range n.Channels.Webhooks {
		sub.WebhookIDs = append(sub.WebhookIDs, w.ID)
		if w.Ordered {
			sub.OrderedWebhookIDs = append(sub.OrderedWebhookIDs, w.ID)
		}
	}
	return sub
}

// Query selects notifications of a tenant, ordered by id.
type Query struct {
	// TitleContains keeps notifications whose title contains it, ignoring case.
	TitleContains string
	// OwnerID keeps only that user's notifications when set.
	OwnerID string
	Page    stagehooks.PageRequest
}

// Page is one page of notifications; NextCursor is "" on the last page.
type Page struct {
	Items      []Notification
	NextCursor string
}

// FoldTitle is the form titles are searched in, by both stores: lower case, so that "QA"
// finds "Nightly qa digest".
func FoldTitle(s string) string { return strings.ToLower(s) }

// WithDefaults returns n with zero digest periods set to DefaultDigestPeriod; the stores store
// what it returns.
func (n Notification) WithDefaults() Notification {
	if len(n.Triggers.Digests) > 0 {
		n.Triggers.Digests = slices.Clone(n.Triggers.Digests)
		for i := range n.Triggers.Digests {
			if n.Triggers.Digests[i].Period == 0 {
				n.Triggers.Digests[i].Period = DefaultDigestPeriod
			}
		}
	}
	return n
}

// Updated returns the stored notification n as an update asks to change it: title,
// description, projects, channels and triggers come from change (with WithDefaults applied);
// id, tenant, owner and creation time stay. Each webhook's DisabledReason is cleared when it is
// enabled and otherwise kept from the stored webhook of the same id (none for a new one).
// Version grows by one, and UpdatedAt is change.UpdatedAt, or now when that is zero. Both stores
// apply it, so an update means the same on each.
func (n Notification) Updated(change Notification, now time.Time) Notification {
	change = change.WithDefaults()
	next := n
	next.Title, next.Description, next.Projects = change.Title, change.Description, change.Projects
	next.Channels, next.Triggers = change.Channels, change.Triggers
	reasons := map[string]string{}
	for _, w := range n.Channels.Webhooks {
		reasons[w.ID] = w.DisabledReason
	}
	next.Channels.Webhooks = slices.Clone(change.Channels.Webhooks)
	for i, w := range next.Channels.Webhooks {
		next.Channels.Webhooks[i].DisabledReason = ""
		if !w.Enabled {
			next.Channels.Webhooks[i].DisabledReason = reasons[w.ID]
		}
	}
	next.Version = n.Version + 1
	next.UpdatedAt = change.UpdatedAt
	if next.UpdatedAt.IsZero() {
		next.UpdatedAt = now
	}
	next.UpdatedAt = next.UpdatedAt.UTC()
	return next
}

// SameSettings reports whether two versions of a webhook deliver alike: same URL, secrets,
// rotation expiry, Enabled flag, rate limit and ordering. A store rewrites a notification's
// webhook only when they differ, so an unchanged webhook keeps its own version (and a setting
// left out here would be dropped by an update that changes only it).
func (w Webhook) SameSettings(o Webhook) bool {
	return w.URL == o.URL && w.Enabled == o.Enabled && slices.Equal(w.Secrets, o.Secrets) &&
		w.PreviousSecretExpiresAt.Equal(o.PreviousSecretExpiresAt) &&
		w.RateLimitPerSecond == o.RateLimitPerSecond && w.Ordered == o.Ordered
}

// keyPart matches identifiers that become parts of store keys, as stagehooks' does.
var keyPart = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

var timeOfDay = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// ValidateStored is Validate as the stores apply it: a notification whose last channel was an
// address that unsubscribed (WithoutEmail) is kept, inert, for its owner to change or delete,
// so the stores accept one without channels. The API still refuses to create or save one.
func (n Notification) ValidateStored() error {
	n.allowNoChannel = true
	return n.Validate()
}

// WithoutEmail returns n without address (compared ignoring case) among its emails, and
// whether it was there.
func (n Notification) WithoutEmail(address string) (Notification, bool) {
	kept := make([]string, 0, len(n.Channels.Emails))
	for _, e := range n.Channels.Emails {
		if !strings.EqualFold(e, address) {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(n.Channels.Emails) {
		return n, false
	}
	n.Channels.Emails = kept
	return n, true
}

// Validate checks every field and returns all the problems at once, joined: each is a
// *stagehooks.FieldError whose Field is the JSON path of the API's body ("channels.emails[2]",
// "triggers.digests[0].time_zone"); stagehooks.FieldErrors lists them. Webhook URL safety is
// left to the API, which knows whether the local-only flags apply.
func (n Notification) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &stagehooks.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	for _, f := range []struct{ name, value string }{{"id", n.ID}, {"tenant_id", n.TenantID}, {"owner_id", n.OwnerID}} {
		if !keyPart.MatchString(f.value) {
			add(f.name, "must be 1 to 128 letters, digits, '-' or '_'")
		}
	}

	switch {
	case !utf8.ValidString(n.Title):
		add("title", "must be UTF-8 text")
	case strings.TrimSpace(n.Title) == "":
		add("title", "is required")
	case utf8.RuneCountInString(n.Title) > MaxTitle:
		add("title", "must be at most %d characters", MaxTitle)
	}
	switch {
	case !utf8.ValidString(n.Description):
		add("description", "must be UTF-8 text")
	case utf8.RuneCountInString(n.Description) > MaxDescription:
		add("description", "must be at most %d characters", MaxDescription)
	}

	switch {
	case len(n.Projects) == 0:
		add("projects", "select at least one project")
	case len(n.Projects) > MaxProjects:
		add("projects", "at most %d projects", MaxProjects)
	}
	eachUnique(n.Projects, "projects", func(s string) string { return s }, func(path, p string) {
		if !keyPart.MatchString(p) {
			add(path, "must be a project hash: 1 to 128 letters, digits, '-' or '_'")
		}
	}, add)

	c := n.Channels
	if len(c.SlackChannels)+len(c.Emails)+len(c.Webhooks) == 0 && !n.allowNoChannel {
		add("channels", "add at least one Slack channel, email address or webhook")
	}
	if len(c.SlackChannels) > MaxSlackChannels {
		add("channels.slack_channels", "at most %d Slack channels", MaxSlackChannels)
	}
	eachUnique(c.SlackChannels, "channels.slack_channels", func(s string) string { return s }, func(path, id string) {
		if !keyPart.MatchString(id) {
			add(path, "must be the id of a connected Slack channel")
		}
	}, add)
	if len(c.Emails) > MaxEmails {
		add("channels.emails", "at most %d email addresses", MaxEmails)
	}
	eachUnique(c.Emails, "channels.emails", strings.ToLower, func(path, e string) {
		if reason := stagehooks.EmailReason(e); reason != "" {
			add(path, "%s", reason)
		}
	}, add)
	if len(c.Webhooks) > MaxWebhooks {
		add("channels.webhooks", "at most %d webhooks", MaxWebhooks)
	}
	ids := map[string]int{}
	urls := map[string]int{}
	for i, w := range c.Webhooks {
		path := fmt.Sprintf("channels.webhooks[%d]", i)
		if !keyPart.MatchString(w.ID) {
			add(path+".id", "must be 1 to 128 letters, digits, '-' or '_'")
		} else if j, dup := ids[w.ID]; dup {
			add(path+".id", "duplicates channels.webhooks[%d]", j)
		} else {
			ids[w.ID] = i
		}
		if err := stagehooks.URLFieldError(path+".url", w.URL); err != nil {
			errs = append(errs, err)
		} else if j, dup := urls[w.URL]; dup {
			add(path+".url", "duplicates channels.webhooks[%d]", j)
		} else {
			urls[w.URL] = i
		}
		if len(w.Secrets) == 0 || slices.Contains(w.Secrets, "") {
			add(path+".secrets", "at least one non-empty signing secret is required")
		}
		if err := stagehooks.RateLimitFieldError(path+".rate_limit_per_second", w.RateLimitPerSecond); err != nil {
			errs = append(errs, err)
		}
	}

	t := n.Triggers
	if len(t.Events)+len(t.Digests) == 0 {
		add("triggers", "add at least one event or digest")
	}
	eachUnique(t.Events, "triggers.events", func(e EventType) EventType { return e }, func(path string, e EventType) {
		if !Known(e) {
			add(path, "%q is not an event type; see the event catalogue", e)
		}
	}, add)
	if len(t.Digests) > MaxDigests {
		add("triggers.digests", "at most %d digests", MaxDigests)
	}
	digests := map[string]int{}
	for i, d := range t.Digests {
		path := fmt.Sprintf("triggers.digests[%d]", i)
		switch {
		case len(d.TimesOfDay) == 0:
			add(path+".times_of_day", "give at least one time of day")
		case len(d.TimesOfDay) > MaxTimesOfDay:
			add(path+".times_of_day", "at most %d times of day", MaxTimesOfDay)
		}
		eachUnique(d.TimesOfDay, path+".times_of_day", func(s string) string { return s }, func(p, s string) {
			if !timeOfDay.MatchString(s) {
				add(p, "must be a 24-hour time HH:MM, such as 09:30")
			}
		}, add)
		switch d.TimeZone {
		case "":
			add(path+".time_zone", "is required: an IANA time zone such as Europe/London or UTC")
		case "Local":
			// LoadLocation("Local") is the server's own zone, which differs between machines.
			add(path+".time_zone", "must be an IANA time zone such as Europe/London or UTC")
		default:
			if _, err := time.LoadLocation(d.TimeZone); err != nil {
				add(path+".time_zone", "%q is not an IANA time zone", d.TimeZone)
			}
		}
		if d.Period != 0 && (d.Period < MinDigestPeriod || d.Period > MaxDigestPeriod) {
			add(path+".period", "must be between 1 hour and 7 days")
		}
		key := digestKey(d)
		if j, dup := digests[key]; dup {
			add(path, "duplicates triggers.digests[%d]", j)
		} else {
			digests[key] = i
		}
	}
	return errors.Join(errs...)
}

// eachUnique runs check on each element and reports elements equal (under key) to an earlier
// one.
func eachUnique[T any, K comparable](items []T, field string, key func(T) K, check func(path string, item T), add func(field, format string, args ...any)) {
	seen := make(map[K]int, len(items))
	for i, it := range items {
		path := fmt.Sprintf("%s[%d]", field, i)
		check(path, it)
		k := key(it)
		if j, dup := seen[k]; dup {
			add(path, "duplicates %s[%d]", field, j)
			continue
		}
		seen[k] = i
	}
}

// checkEmail accepts a bare address: no display name, no angle brackets, no spaces around it.
func digestKey(d Digest) string {
	times := slices.Clone(d.TimesOfDay)
	slices.Sort(times)
	period := d.Period
	if period == 0 {
		period = DefaultDigestPeriod
	}
	return fmt.Sprintf("%s|%s|%d|%t", strings.Join(times, ","), d.TimeZone, period, d.SkipEmpty)
}
