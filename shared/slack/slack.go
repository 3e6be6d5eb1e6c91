// Package slack is what Herald knows of the Slack channels its users connect: one record per
// channel a user added with "Add to Slack", shared by all of that user's notifications, and
// the incoming-webhook URL Slack gave for it. It holds the record and its rules; the OAuth
// flow and the posting live in infra/slackoauth, the stores in infra/dynamo and
// infra/sqlitestore.
//
// The webhook URL is a bearer secret: whoever has it can post into the channel. It therefore
// never leaves Herald: Public strips it for API responses, the JSON encoding omits it, and
// the fmt and slog forms of a Channel print it redacted, so a log line that includes a
// Channel cannot leak it.
package slack

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"time"

	"github.com/heraldhq/herald/shared/stagehooks"
)

// Channel is one Slack channel a user connected.
type Channel struct {
	// ID is Herald's id of the channel, derived by NewChannelID from the tenant, the owner and
	// the Slack workspace and channel, so that re-connecting the same channel gives the same
	// id: the notifications that name it keep working with the new webhook.
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	// OwnerID is the user who connected the channel; only that user's notifications use it.
	OwnerID     string `json:"owner_id"`
	TeamID      string `json:"team_id"`
	TeamName    string `json:"team_name"`
	ChannelID   string `json:"channel_id"`
	ChannelName string `json:"channel_name"`
	// WebhookURL is the incoming-webhook URL Slack issued: a secret, never listed back or
	// logged (see the package comment).
	WebhookURL       string    `json:"-"`
	ConfigurationURL string    `json:"configuration_url,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
	// BrokenReason says why Herald stopped posting to the channel: Slack answered that it is
	// gone (deleted or archived channel, app removed). Empty while the channel works;
	// connecting the same channel again clears it.
	BrokenReason string    `json:"broken_reason,omitempty"`
	BrokenAt     time.Time `json:"broken_at,omitzero"`
}

// Public returns a copy without the webhook URL, for API responses and listings.
func (c Channel) Public() Channel {
	c.WebhookURL = ""
	return c
}

// redacted is what the fmt and slog forms print instead of a set webhook URL.
const redacted = "[redacted]"

// plainChannel has Channel's fields and none of its methods, so formatting it does not
// recurse into Format.
type plainChannel Channel

// Format prints the channel as fmt would, with the webhook URL redacted, for every verb and
// flag (%v, %+v, %#v, %s ...).
func (c Channel) Format(f fmt.State, verb rune) {
	if c.WebhookURL != "" {
		c.WebhookURL = redacted
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), plainChannel(c))
}

// LogValue implements slog.LogValuer: the channel's identity, never its webhook URL.
func (c Channel) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", c.ID), slog.String("tenant_id", c.TenantID), slog.String("owner_id", c.OwnerID),
		slog.String("team_id", c.TeamID), slog.String("channel_id", c.ChannelID),
		slog.String("channel_name", c.ChannelName), slog.String("broken_reason", c.BrokenReason),
	)
}

// NewChannelID returns Herald's id of a Slack channel connected by owner in tenant: 128 bits
// of SHA-256 over the four parts, so the same channel connected again by the same user gets
// the same id (the stores replace the earlier record instead of adding a second one), and
// the id says nothing about the workspace or channel it names. The parts are joined with NUL,
// which none of them may contain (Validate), so no two tuples give the same input.
func NewChannelID(tenant, owner, teamID, channelID string) string {
	sum := sha256.Sum256([]byte("herald slack channel v1\x00" + tenant + "\x00" + owner + "\x00" + teamID + "\x00" + channelID))
	return "slk_" + hex.EncodeToString(sum[:16])
}

var (
	// keyPart matches Herald identifiers that become parts of store keys, as in stagehooks:
	// keys join parts with '#', so a part must never contain one.
	keyPart = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	// slackID matches Slack's workspace and channel ids (T0123ABCD, C0123ABCD, E...): upper-case
	// letters and digits today; lower case is allowed in case Slack widens them.
	slackID = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)
)

// Validate checks the fields the stores and the sender rely on. Errors are
// *stagehooks.FieldError, so errors.Is(err, stagehooks.ErrInvalid) holds for all of them,
// and none of them quotes the webhook URL.
func (c Channel) Validate() error {
	for _, f := range []struct{ name, value string }{
		{"tenant_id", c.TenantID}, {"owner_id", c.OwnerID},
	} {
		if !keyPart.MatchString(f.value) {
			return &stagehooks.FieldError{Field: f.name, Reason: "must be 1 to 128 letters, digits, '-' or '_'"}
		}
	}
	for _, f := range []struct{ name, value string }{
		{"team_id", c.TeamID}, {"channel_id", c.ChannelID},
	} {
		if !slackID.MatchString(f.value) {
			return &stagehooks.FieldError{Field: f.name, Reason: "must be a Slack id: 1 to 64 letters or digits"}
		}
	}
	if want := NewChannelID(c.TenantID, c.OwnerID, c.TeamID, c.ChannelID); c.ID != want {
		return &stagehooks.FieldError{Field: "id", Reason: "must be NewChannelID of the tenant, owner, team and channel"}
	}
	if c.WebhookURL == "" {
		return &stagehooks.FieldError{Field: "webhook_url", Reason: "is required"}
	}
	if u, err := url.Parse(c.WebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &stagehooks.FieldError{Field: "webhook_url", Reason: "must be an absolute http(s) URL"}
	}
	if c.CreatedAt.IsZero() {
		return &stagehooks.FieldError{Field: "created_at", Reason: "is required"}
	}
	return nil
}
