package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// Notifications table (infra/dynamo's NOTIF# item, one column per attribute, lists as JSON):
//
//	PRIMARY KEY (tenant_id, id)       every read names the tenant; a list is a range scan of it
//	                                  from the cursor on, filtered on title_folded and owner_id
//	webhook_ids                       the notification's webhooks, in order; they are rows of
//	                                  webhooks with notification_id set, which
//	                                  webhooks_by_notification finds
//	notification_projects (tenant_id, project_hash, notification_id)
//	                                  infra/dynamo's project memberships: the event path's
//	                                  lookup of a tenant's notifications on a project, kept
//	                                  by triggers from the projects column, so no write path
//	                                  can forget it
//
// A notification and its webhooks are written in one transaction, and read in one statement
// (a LEFT JOIN), so a read never sees half of an update. sqlitedb.Migrate splits statements
// on ";\n", so a trigger's inner statements end with "; " on the same line.
const notificationSchema = `
CREATE TABLE IF NOT EXISTS notifications (
	tenant_id      TEXT    NOT NULL,
	id             TEXT    NOT NULL,
	owner_id       TEXT    NOT NULL,
	title          TEXT    NOT NULL,
	title_folded   TEXT    NOT NULL,
	description    TEXT    NOT NULL,
	projects       TEXT    NOT NULL CHECK (json_valid(projects) AND json_type(projects) = 'array'),
	slack_channels TEXT    NOT NULL CHECK (json_valid(slack_channels) AND json_type(slack_channels) = 'array'),
	emails         TEXT    NOT NULL CHECK (json_valid(emails) AND json_type(emails) = 'array'),
	webhook_ids    TEXT    NOT NULL CHECK (json_valid(webhook_ids) AND json_type(webhook_ids) = 'array'),
	events         TEXT    NOT NULL CHECK (json_valid(events) AND json_type(events) = 'array'),
	digests        TEXT    NOT NULL CHECK (json_valid(digests) AND json_type(digests) = 'array'),
	version        INTEGER NOT NULL,
	created_at     TEXT    NOT NULL,
	updated_at     TEXT    NOT NULL,
	PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX IF NOT EXISTS webhooks_by_notification ON webhooks (tenant_id, notification_id);
CREATE TABLE IF NOT EXISTS notification_projects (
	tenant_id       TEXT NOT NULL,
	project_hash    TEXT NOT NULL,
	notification_id TEXT NOT NULL,
	PRIMARY KEY (tenant_id, project_hash, notification_id)
) STRICT, WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS notification_projects_on_insert AFTER INSERT ON notifications BEGIN
	INSERT OR IGNORE INTO notification_projects SELECT NEW.tenant_id, value, NEW.id FROM json_each(NEW.projects); END;
CREATE TRIGGER IF NOT EXISTS notification_projects_on_update AFTER UPDATE OF projects ON notifications BEGIN
	DELETE FROM notification_projects WHERE tenant_id = OLD.tenant_id AND notification_id = OLD.id
		AND project_hash IN (SELECT value FROM json_each(OLD.projects)); INSERT OR IGNORE INTO notification_projects SELECT NEW.tenant_id, value, NEW.id FROM json_each(NEW.projects); END;
CREATE TRIGGER IF NOT EXISTS notification_projects_on_delete AFTER DELETE ON notifications BEGIN
	DELETE FROM notification_projects WHERE tenant_id = OLD.tenant_id AND notification_id = OLD.id
		AND project_hash IN (SELECT value FROM json_each(OLD.projects)); END;
INSERT OR IGNORE INTO notification_projects SELECT n.tenant_id, p.value, n.id FROM notifications AS n, json_each(n.projects) AS p
`

// notificationSelect reads notifications (FROM the table or a page of it) with their webhooks,
// one row per webhook (or one row with NULL webhook columns when there is none), in id order.
const notificationSelect = `SELECT n.id, n.tenant_id, n.owner_id, n.title, n.description, n.projects, n.slack_channels,
	n.emails, n.webhook_ids, n.events, n.digests, n.version, n.created_at, n.updated_at,
	w.id, w.url, w.secrets, w.previous_secret_expires_at, w.enabled, w.disabled_reason, w.rate_limit, w.ordered
	FROM %s AS n LEFT JOIN webhooks AS w ON w.tenant_id = n.tenant_id AND w.notification_id = n.id`

var (
	getNotificationSQL = fmt.Sprintf(notificationSelect, "notifications") + ` WHERE n.tenant_id = ? AND n.id = ?`
	// instr(x, '') is 1, so an empty search keeps every title.
	listNotificationsSQL = `WITH page AS (SELECT * FROM notifications WHERE tenant_id = ? AND id > ?
		AND instr(title_folded, ?) > 0 AND (? = '' OR owner_id = ?) ORDER BY id LIMIT ?) ` +
		fmt.Sprintf(notificationSelect, "page") + ` ORDER BY n.id`
)

// subscriptionsSQL reads the notifications of one tenant that cover one project, through
// notification_projects, with their webhooks, in id order. CROSS JOIN makes SQLite walk the
// project's memberships first; left to itself it scanned the tenant's notifications.
var subscriptionsSQL = `WITH covering AS (SELECT n.* FROM notification_projects AS p
	CROSS JOIN notifications AS n ON n.tenant_id = p.tenant_id AND n.id = p.notification_id
	WHERE p.tenant_id = ? AND p.project_hash = ?) ` + fmt.Sprintf(notificationSelect, "covering") + ` ORDER BY n.id`

const insertNotificationWebhookSQL = `INSERT INTO webhooks (tenant_id, id, owner_id, project_hash, stage_uuid, stage_type,
	url, secrets, previous_secret_expires_at, enabled, disabled_reason, version, created_at, updated_at, notification_id, rate_limit, ordered)
	VALUES (?, ?, ?, '', '', '', ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`

type digestRow struct {
	TimesOfDay []string `json:"times_of_day"`
	TimeZone   string   `json:"time_zone"`
	// PeriodNS is the period in nanoseconds, exact whatever its unit.
	PeriodNS  int64 `json:"period_ns"`
	SkipEmpty bool  `json:"skip_empty,omitempty"`
}

// notificationRow is a notification's column values as stored.
type notificationRow struct {
	projects, slackChannels, emails, webhookIDs, events, digests string
	created, updated                                             string
}

// jsonList stores a list as a JSON array, [] when empty.
func jsonList[T any](v []T) (string, error) {
	if len(v) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// fromJSONList reads a JSON array back, nil when empty, as infra/dynamo reads an absent list.
func fromJSONList[T any](column, s string) ([]T, error) {
	var v []T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("unmarshal %s: %w", column, err)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

func toNotificationRow(n notifications.Notification) (notificationRow, error) {
	var (
		r   notificationRow
		err error
		ids []string
		ds  []digestRow
	)
	for _, w := range n.Channels.Webhooks {
		ids = append(ids, w.ID)
	}
	for _, d := range n.Triggers.Digests {
		ds = append(ds, digestRow{TimesOfDay: d.TimesOfDay, TimeZone: d.TimeZone, PeriodNS: int64(d.Period), SkipEmpty: d.SkipEmpty})
	}
	for _, f := range []struct {
		dst  *string
		list func() (string, error)
	}{
		{&r.projects, func() (string, error) { return jsonList(n.Projects) }},
		{&r.slackChannels, func() (string, error) { return jsonList(n.Channels.SlackChannels) }},
		{&r.emails, func() (string, error) { return jsonList(n.Channels.Emails) }},
		{&r.webhookIDs, func() (string, error) { return jsonList(ids) }},
		{&r.events, func() (string, error) { return jsonList(n.Triggers.Events) }},
		{&r.digests, func() (string, error) { return jsonList(ds) }},
	} {
		if *f.dst, err = f.list(); err != nil {
			return notificationRow{}, fmt.Errorf("marshal notification %s: %w", n.ID, err)
		}
	}
	if r.created, err = formatTime(n.CreatedAt); err != nil {
		return notificationRow{}, fmt.Errorf("created_at of notification %s: %w", n.ID, err)
	}
	if r.updated, err = formatTime(n.UpdatedAt); err != nil {
		return notificationRow{}, fmt.Errorf("updated_at of notification %s: %w", n.ID, err)
	}
	return r, nil
}

// scanNotifications reads the rows of notificationSelect into notifications, each with its
// webhooks in the order of webhook_ids.
func scanNotifications(rows *sql.Rows) ([]notifications.Notification, error) {
	var (
		out    []notifications.Notification
		orders [][]string
		hooks  []map[string]notifications.Webhook
	)
	for rows.Next() {
		var (
			n                                       notifications.Notification
			r                                       notificationRow
			wID, wURL, wSecrets, wPrevious, wReason sql.NullString
			wEnabled, wOrdered                      sql.NullBool
			wRateLimit                              sql.NullInt64
		)
		if err := rows.Scan(&n.ID, &n.TenantID, &n.OwnerID, &n.Title, &n.Description, &r.projects, &r.slackChannels,
			&r.emails, &r.webhookIDs, &r.events, &r.digests, &n.Version, &r.created, &r.updated,
			&wID, &wURL, &wSecrets, &wPrevious, &wEnabled, &wReason, &wRateLimit, &wOrdered); err != nil {
			return nil, fmt.Errorf("read notifications: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].ID != n.ID {
			order, err := fillNotification(&n, r)
			if err != nil {
				return nil, fmt.Errorf("read notification %s: %w", n.ID, err)
			}
			out, orders, hooks = append(out, n), append(orders, order), append(hooks, map[string]notifications.Webhook{})
		}
		if wID.Valid {
			w := notifications.Webhook{ID: wID.String, URL: wURL.String, Enabled: wEnabled.Bool, DisabledReason: wReason.String,
				RateLimitPerSecond: int(wRateLimit.Int64), Ordered: wOrdered.Bool}
			var err error
			if w.Secrets, err = fromJSONList[string]("secrets", wSecrets.String); err != nil {
				return nil, fmt.Errorf("read webhook %s: %w", w.ID, err)
			}
			if w.PreviousSecretExpiresAt, err = parseOptionalTime("previous_secret_expires_at", wPrevious.String); err != nil {
				return nil, fmt.Errorf("read webhook %s: %w", w.ID, err)
			}
			hooks[len(hooks)-1][w.ID] = w
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read notifications: %w", err)
	}
	for i := range out {
		for _, id := range orders[i] {
			if w, ok := hooks[i][id]; ok {
				out[i].Channels.Webhooks = append(out[i].Channels.Webhooks, w)
			}
		}
	}
	return out, nil
}

// fillNotification decodes the stored columns of r into n and returns its webhook ids.
func fillNotification(n *notifications.Notification, r notificationRow) ([]string, error) {
	var err error
	if n.Projects, err = fromJSONList[string]("projects", r.projects); err != nil {
		return nil, err
	}
	if n.Channels.SlackChannels, err = fromJSONList[string]("slack_channels", r.slackChannels); err != nil {
		return nil, err
	}
	if n.Channels.Emails, err = fromJSONList[string]("emails", r.emails); err != nil {
		return nil, err
	}
	if n.Triggers.Events, err = fromJSONList[notifications.EventType]("events", r.events); err != nil {
		return nil, err
	}
	ds, err := fromJSONList[digestRow]("digests", r.digests)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		n.Triggers.Digests = append(n.Triggers.Digests, notifications.Digest{TimesOfDay: d.TimesOfDay, TimeZone: d.TimeZone, Period: time.Duration(d.PeriodNS), SkipEmpty: d.SkipEmpty})
	}
	if n.CreatedAt, err = parseTime("created_at", r.created); err != nil {
		return nil, err
	}
	if n.UpdatedAt, err = parseTime("updated_at", r.updated); err != nil {
		return nil, err
	}
	return fromJSONList[string]("webhook_ids", r.webhookIDs)
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func getNotification(ctx context.Context, q querier, tenant, id string) (notifications.Notification, error) {
	rows, err := q.QueryContext(ctx, getNotificationSQL, tenant, id)
	if err != nil {
		return notifications.Notification{}, err
	}
	defer rows.Close()
	ns, err := scanNotifications(rows)
	if err != nil {
		return notifications.Notification{}, err
	}
	if len(ns) == 0 {
		return notifications.Notification{}, notifications.ErrNotFound
	}
	return ns[0], nil
}

// noneIs returns kind, in context what, when a statement changed no row.
func noneIs(res sql.Result, kind error, what string) error {
	n, err := res.RowsAffected()
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case n == 0:
		return fmt.Errorf("%s: %w", what, kind)
	}
	return nil
}

// insertNotificationWebhook inserts one webhook of n at version 1; ErrExists if its id is taken
// in the tenant, by a stage webhook or another notification's.
func insertNotificationWebhook(ctx context.Context, tx *sql.Tx, n notifications.Notification, w notifications.Webhook, created string) error {
	secrets, err := jsonList(w.Secrets)
	if err != nil {
		return fmt.Errorf("marshal secrets of webhook %s: %w", w.ID, err)
	}
	previous, err := formatOptionalTime(w.PreviousSecretExpiresAt)
	if err != nil {
		return fmt.Errorf("previous_secret_expires_at of webhook %s: %w", w.ID, err)
	}
	updated, err := formatTime(n.UpdatedAt)
	if err != nil {
		return fmt.Errorf("updated_at of webhook %s: %w", w.ID, err)
	}
	res, err := tx.ExecContext(ctx, insertNotificationWebhookSQL, n.TenantID, w.ID, n.OwnerID, w.URL, secrets, previous,
		w.Enabled, w.DisabledReason, created, updated, n.ID, w.RateLimitPerSecond, w.Ordered)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.ID, err)
	}
	return noneIs(res, notifications.ErrExists, "webhook id "+w.ID)
}

// CreateNotification stores a new notification at version 1 with its webhooks, in one
// transaction; ErrExists if its id, or the id of one of its webhooks, is taken in its tenant.
func (s *Store) CreateNotification(ctx context.Context, n notifications.Notification) error {
	n = n.WithDefaults()
	n.Version = 1
	if err := n.Validate(); err != nil {
		return err
	}
	r, err := toNotificationRow(n)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create notification %s: begin: %w", n.ID, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO notifications (tenant_id, id, owner_id, title, title_folded, description,
		projects, slack_channels, emails, webhook_ids, events, digests, version, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT DO NOTHING`,
		n.TenantID, n.ID, n.OwnerID, n.Title, notifications.FoldTitle(n.Title), n.Description,
		r.projects, r.slackChannels, r.emails, r.webhookIDs, r.events, r.digests, r.created, r.updated)
	if err != nil {
		return fmt.Errorf("create notification %s: %w", n.ID, err)
	}
	if err := noneIs(res, notifications.ErrExists, "create notification "+n.ID); err != nil {
		return err
	}
	for _, w := range n.Channels.Webhooks {
		w.DisabledReason = ""
		if err := insertNotificationWebhook(ctx, tx, n, w, r.created); err != nil {
			return fmt.Errorf("create notification %s: %w", n.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create notification %s: commit: %w", n.ID, err)
	}
	return nil
}

// GetNotification reads one notification of a tenant with its webhooks.
func (s *Store) GetNotification(ctx context.Context, tenant, id string) (notifications.Notification, error) {
	n, err := getNotification(ctx, s.db, tenant, id)
	if err != nil {
		return notifications.Notification{}, fmt.Errorf("get notification %s: %w", id, err)
	}
	return n, nil
}

// ListNotifications returns one page of a tenant's notifications, ordered by id, filtered on
// the folded title and the owner, in one statement.
func (s *Store) ListNotifications(ctx context.Context, tenant string, q notifications.Query) (notifications.Page, error) {
	size, after, err := q.Page.Resolve(tenant, stagehooks.ListNotifications)
	if err != nil {
		return notifications.Page{}, err
	}
	// One notification more than the page says whether another page follows.
	rows, err := s.db.QueryContext(ctx, listNotificationsSQL, tenant, after, notifications.FoldTitle(q.TitleContains),
		q.OwnerID, q.OwnerID, size+1)
	if err != nil {
		return notifications.Page{}, fmt.Errorf("list notifications of tenant %s: %w", tenant, err)
	}
	defer rows.Close()
	items, err := scanNotifications(rows)
	if err != nil {
		return notifications.Page{}, fmt.Errorf("list notifications of tenant %s: %w", tenant, err)
	}
	out := notifications.Page{Items: items}
	if len(items) > size {
		out.Items = items[:size]
		out.NextCursor = stagehooks.EncodeCursor(tenant, stagehooks.ListNotifications, items[size-1].ID)
	}
	return out, nil
}

// UpdateNotification applies notifications.Notification.Updated to the stored notification,
// provided its version is still expectedVersion, and returns it as stored. Its webhooks are
// diffed by id in the same transaction: new ids are created, changed ones rewritten (each
// with its own version), missing ones deleted. ErrNotFound, ErrVersionConflict; ErrExists when
// a new webhook's id is taken.
func (s *Store) UpdateNotification(ctx context.Context, n notifications.Notification, expectedVersion int64) (notifications.Notification, error) {
	// One immediate transaction: nobody writes between the read and the writes.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return notifications.Notification{}, fmt.Errorf("update notification %s: begin: %w", n.ID, err)
	}
	defer tx.Rollback()
	old, err := getNotification(ctx, tx, n.TenantID, n.ID)
	if err != nil {
		return notifications.Notification{}, fmt.Errorf("update notification %s: %w", n.ID, err)
	}
	if old.Version != expectedVersion {
		return notifications.Notification{}, fmt.Errorf("update notification %s at version %d (stored %d): %w", n.ID, expectedVersion, old.Version, notifications.ErrVersionConflict)
	}
	next := old.Updated(n, s.now())
	if err := next.ValidateStored(); err != nil {
		return notifications.Notification{}, err
	}
	r, err := toNotificationRow(next)
	if err != nil {
		return notifications.Notification{}, err
	}

	stored := map[string]notifications.Webhook{}
	for _, w := range old.Channels.Webhooks {
		stored[w.ID] = w
	}
	for _, w := range next.Channels.Webhooks {
		prev, exists := stored[w.ID]
		delete(stored, w.ID)
		switch {
		case !exists:
			if err := insertNotificationWebhook(ctx, tx, next, w, r.updated); err != nil {
				return notifications.Notification{}, fmt.Errorf("update notification %s: %w", n.ID, err)
			}
		case !prev.SameSettings(w):
			secrets, err := jsonList(w.Secrets)
			if err != nil {
				return notifications.Notification{}, fmt.Errorf("marshal secrets of webhook %s: %w", w.ID, err)
			}
			previous, err := formatOptionalTime(w.PreviousSecretExpiresAt)
			if err != nil {
				return notifications.Notification{}, fmt.Errorf("previous_secret_expires_at of webhook %s: %w", w.ID, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET url = ?, secrets = ?, previous_secret_expires_at = ?,
				enabled = ?, disabled_reason = ?, version = version + 1, updated_at = ?, failing_since = '', failures = 0, rate_limit = ?,
				ordered = ? WHERE tenant_id = ? AND id = ? AND notification_id = ?`,
				w.URL, secrets, previous, w.Enabled, w.DisabledReason, r.updated, w.RateLimitPerSecond, w.Ordered, next.TenantID, w.ID, next.ID); err != nil {
				return notifications.Notification{}, fmt.Errorf("update notification %s: webhook %s: %w", n.ID, w.ID, err)
			}
		}
	}
	for id := range stored {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE tenant_id = ? AND id = ? AND notification_id = ?`,
			next.TenantID, id, next.ID); err != nil {
			return notifications.Notification{}, fmt.Errorf("update notification %s: delete webhook %s: %w", n.ID, id, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE notifications SET title = ?, title_folded = ?, description = ?, projects = ?,
		slack_channels = ?, emails = ?, webhook_ids = ?, events = ?, digests = ?, version = ?, updated_at = ?
		WHERE tenant_id = ? AND id = ?`,
		next.Title, notifications.FoldTitle(next.Title), next.Description, r.projects, r.slackChannels, r.emails,
		r.webhookIDs, r.events, r.digests, next.Version, r.updated, next.TenantID, next.ID); err != nil {
		return notifications.Notification{}, fmt.Errorf("update notification %s: %w", n.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return notifications.Notification{}, fmt.Errorf("update notification %s: commit: %w", n.ID, err)
	}
	return next, nil
}

// SubscriptionsForProject returns the notifications of tenant that cover project, in id
// order, through the notification_projects index.
func (s *Store) SubscriptionsForProject(ctx context.Context, tenant, project string) ([]notifications.Subscription, error) {
	rows, err := s.subscriptions.QueryContext(ctx, tenant, project)
	if err != nil {
		return nil, fmt.Errorf("query notifications of tenant %s project %s: %w", tenant, project, err)
	}
	defer rows.Close()
	items, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("read notifications of tenant %s project %s: %w", tenant, project, err)
	}
	out := make([]notifications.Subscription, 0, len(items))
	for _, n := range items {
		out = append(out, notifications.SubscriptionOf(n))
	}
	return out, nil
}

// DeleteNotification deletes a notification and its webhooks in one transaction; ErrNotFound
// if the tenant has no such notification.
func (s *Store) DeleteNotification(ctx context.Context, tenant, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete notification %s: begin: %w", id, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM notifications WHERE tenant_id = ? AND id = ?`, tenant, id)
	if err != nil {
		return fmt.Errorf("delete notification %s: %w", id, err)
	}
	if err := noneIs(res, notifications.ErrNotFound, "delete notification "+id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE tenant_id = ? AND notification_id = ?`, tenant, id); err != nil {
		return fmt.Errorf("delete notification %s: webhooks: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete notification %s: commit: %w", id, err)
	}
	return nil
}
