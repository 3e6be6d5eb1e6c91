package sqlitestore

// Slack channels table (the DynamoDB key design of infra/dynamo's SlackChannels):
//
//	PRIMARY KEY (tenant_id, owner_id, id)   every read names tenant and owner, so no key
//	                                        reaches another user's or tenant's channels; a
//	                                        user's channels are one range of the key
//
// The id is slack.NewChannelID of the tenant, owner, Slack team and Slack channel, so
// re-connecting the same channel hits the same key and the upsert replaces the record.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/slack"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// SlackChannels keeps users' Slack channels in SQLite; the embedded counterpart of
// dynamo.SlackChannels.
type SlackChannels struct {
	save, list, get, del, broken *sql.Stmt
}

// slackSchema follows the rules of schema in webhooks.go: idempotent statements, none
// containing ";\n".
const slackSchema = `
CREATE TABLE IF NOT EXISTS slack_channels (
	tenant_id         TEXT NOT NULL,
	owner_id          TEXT NOT NULL,
	id                TEXT NOT NULL,
	team_id           TEXT NOT NULL,
	team_name         TEXT NOT NULL DEFAULT '',
	channel_id        TEXT NOT NULL,
	channel_name      TEXT NOT NULL DEFAULT '',
	webhook_url       TEXT NOT NULL,
	configuration_url TEXT NOT NULL DEFAULT '',
	created_at        TEXT NOT NULL,
	broken_reason     TEXT NOT NULL DEFAULT '',
	broken_at         TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (tenant_id, owner_id, id)
) STRICT
`

// slackColumns is every column but webhook_url, which only GetChannels reads. They are
// qualified because json_each, which GetChannels joins, has an id column too.
const slackColumns = `c.id, c.tenant_id, c.owner_id, c.team_id, c.team_name, c.channel_id, c.channel_name,
	c.configuration_url, c.created_at, c.broken_reason, c.broken_at`

// slackListSQL reads one user's channels, newest first: created_at has a fixed width, so
// text order is time order.
const slackListSQL = `SELECT ` + slackColumns + ` FROM slack_channels AS c WHERE c.tenant_id = ? AND c.owner_id = ?
	ORDER BY c.created_at DESC, c.id ASC`

// slackGetSQL reads the channels named by a JSON array of ids, as endpointsSQL does: one
// query whatever their number. An id named twice matches twice; the map keeps one.
const slackGetSQL = `SELECT ` + slackColumns + `, c.webhook_url FROM json_each(?) AS k CROSS JOIN slack_channels AS c
	WHERE c.tenant_id = ? AND c.owner_id = ? AND c.id = k.value`

// NewSlackChannels migrates the slack_channels table in db and prepares the store's
// statements. The caller owns db and closes it after Close.
func NewSlackChannels(ctx context.Context, db *sql.DB) (*SlackChannels, error) {
	if err := sqlitedb.Migrate(ctx, db, "sqlitestore slack channels", slackSchema); err != nil {
		return nil, err
	}
	// Columns added after the table's first release.
	if err := sqlitedb.AddMissingColumns(ctx, db, "slack_channels", "broken_reason TEXT NOT NULL DEFAULT ''", "broken_at TEXT NOT NULL DEFAULT ''"); err != nil {
		return nil, err
	}
	s := &SlackChannels{}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&s.save, `INSERT INTO slack_channels (tenant_id, owner_id, id, team_id, team_name, channel_id, channel_name,
			webhook_url, configuration_url, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id, owner_id, id) DO UPDATE SET team_id = excluded.team_id, team_name = excluded.team_name,
			channel_id = excluded.channel_id, channel_name = excluded.channel_name, webhook_url = excluded.webhook_url,
			configuration_url = excluded.configuration_url, created_at = excluded.created_at,
			broken_reason = '', broken_at = ''`},
		{&s.broken, `UPDATE slack_channels SET broken_reason = ?, broken_at = ? WHERE tenant_id = ? AND owner_id = ? AND id = ?`},
		{&s.list, slackListSQL},
		{&s.get, slackGetSQL},
		{&s.del, `DELETE FROM slack_channels WHERE tenant_id = ? AND owner_id = ? AND id = ?`},
	} {
		stmt, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("prepare %q: %w", p.query, err)
		}
		*p.stmt = stmt
	}
	return s, nil
}

// Close releases the prepared statements; it does not close the database.
func (s *SlackChannels) Close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{s.save, s.list, s.get, s.del, s.broken} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close slack channel statements: %w", err)
	}
	return nil
}

// slackKeyPart is what a tenant, owner or channel id must look like (slack.Channel.Validate
// enforces it on save); reads naming anything else find nothing, as in infra/dynamo.
var slackKeyPart = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// SaveChannel stores ch, replacing the owner's earlier record of the same Slack channel.
func (s *SlackChannels) SaveChannel(ctx context.Context, ch slack.Channel) error {
	if err := ch.Validate(); err != nil {
		return err
	}
	created, err := formatTime(ch.CreatedAt)
	if err != nil {
		return fmt.Errorf("created_at of slack channel %s: %w", ch.ID, err)
	}
	if _, err := s.save.ExecContext(ctx, ch.TenantID, ch.OwnerID, ch.ID, ch.TeamID, ch.TeamName, ch.ChannelID,
		ch.ChannelName, ch.WebhookURL, ch.ConfigurationURL, created); err != nil {
		return fmt.Errorf("save slack channel %s: %w", ch.ID, err)
	}
	return nil
}

// slackRow is what *sql.Rows offers scanSlackChannel.
type slackRow interface{ Scan(dest ...any) error }

func scanSlackChannel(rows slackRow, withURL bool) (slack.Channel, error) {
	var (
		ch              slack.Channel
		created, broken string
	)
	dest := []any{&ch.ID, &ch.TenantID, &ch.OwnerID, &ch.TeamID, &ch.TeamName, &ch.ChannelID, &ch.ChannelName,
		&ch.ConfigurationURL, &created, &ch.BrokenReason, &broken}
	if withURL {
		dest = append(dest, &ch.WebhookURL)
	}
	if err := rows.Scan(dest...); err != nil {
		return slack.Channel{}, err
	}
	t, err := parseTime("created_at", created)
	if err != nil {
		return slack.Channel{}, fmt.Errorf("read slack channel %s: %w", ch.ID, err)
	}
	ch.CreatedAt = t
	if broken != "" {
		if ch.BrokenAt, err = parseTime("broken_at", broken); err != nil {
			return slack.Channel{}, fmt.Errorf("read slack channel %s: %w", ch.ID, err)
		}
	}
	return ch, nil
}

// ListChannels returns owner's channels in tenant, newest first, without their webhook URLs
// (as Public): the listing is for showing, GetChannels is for posting.
func (s *SlackChannels) ListChannels(ctx context.Context, tenant, owner string) ([]slack.Channel, error) {
	rows, err := s.list.QueryContext(ctx, tenant, owner)
	if err != nil {
		return nil, fmt.Errorf("query slack channels of user %s: %w", owner, err)
	}
	defer rows.Close()
	var out []slack.Channel
	for rows.Next() {
		ch, err := scanSlackChannel(rows, false)
		if err != nil {
			return nil, fmt.Errorf("read slack channels of user %s: %w", owner, err)
		}
		out = append(out, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query slack channels of user %s: %w", owner, err)
	}
	return out, nil
}

// GetChannels returns those of ids that are owner's channels in tenant, webhook URLs
// included, keyed by id. Ids that name nothing, or another user's or tenant's channel, are
// absent.
func (s *SlackChannels) GetChannels(ctx context.Context, tenant, owner string, ids []string) (map[string]slack.Channel, error) {
	out := make(map[string]slack.Channel, len(ids))
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if slackKeyPart.MatchString(id) {
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return out, nil
	}
	keys, err := json.Marshal(valid)
	if err != nil {
		return nil, fmt.Errorf("marshal %d slack channel ids: %w", len(valid), err)
	}
	rows, err := s.get.QueryContext(ctx, string(keys), tenant, owner)
	if err != nil {
		return nil, fmt.Errorf("read %d slack channels of user %s: %w", len(valid), owner, err)
	}
	defer rows.Close()
	for rows.Next() {
		ch, err := scanSlackChannel(rows, true)
		if err != nil {
			return nil, fmt.Errorf("read slack channels of user %s: %w", owner, err)
		}
		out[ch.ID] = ch
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %d slack channels of user %s: %w", len(valid), owner, err)
	}
	return out, nil
}

// DeleteChannel removes one of owner's channels; stagehooks.ErrNotFound when owner has no
// channel with that id in tenant (including another user's channel).
func (s *SlackChannels) DeleteChannel(ctx context.Context, tenant, owner, id string) error {
	res, err := s.del.ExecContext(ctx, tenant, owner, id)
	if err != nil {
		return fmt.Errorf("delete slack channel %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete slack channel %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete slack channel %s: %w", id, stagehooks.ErrNotFound)
	}
	return nil
}

// MarkBroken records that Slack refuses posts to one of owner's channels, and why; the
// delivery path then stops posting to it. stagehooks.ErrNotFound when there is no such channel.
func (s *SlackChannels) MarkBroken(ctx context.Context, tenant, owner, id, reason string, at time.Time) error {
	when, err := formatTime(at)
	if err != nil {
		return fmt.Errorf("mark slack channel %s broken: %w", id, err)
	}
	res, err := s.broken.ExecContext(ctx, reason, when, tenant, owner, id)
	if err != nil {
		return fmt.Errorf("mark slack channel %s broken: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("mark slack channel %s broken: %w", id, errors.Join(err, stagehooks.ErrNotFound))
	}
	return nil
}
