package slack_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/slack"
	"github.com/heraldhq/herald/shared/stagehooks"
)

const secretURL = "https://hooks.slack.com/services/T0001/B0001/sEcReTtOkEn"

func channel() slack.Channel {
	return slack.Channel{
		ID:       slack.NewChannelID("tenant-a", "user-1", "T0001", "C0001"),
		TenantID: "tenant-a", OwnerID: "user-1", TeamID: "T0001", TeamName: "Acme", ChannelID: "C0001",
		ChannelName: "#alerts", WebhookURL: secretURL, ConfigurationURL: "https://acme.slack.com/services/B0001",
		CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

func TestPublicDropsOnlyTheWebhookURL(t *testing.T) {
	t.Parallel()
	c := channel()
	p := c.Public()
	if p.WebhookURL != "" {
		t.Fatalf("Public kept the webhook URL")
	}
	if c.WebhookURL != secretURL {
		t.Fatalf("Public changed the original")
	}
	p.WebhookURL = c.WebhookURL
	if p != c {
		t.Fatalf("Public changed other fields: %+v", p)
	}
}

func TestWebhookURLNeverPrinted(t *testing.T) {
	t.Parallel()
	c := channel()
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("connected", "channel", c)
	encoded, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"%s": fmt.Sprintf("%s", c), "Sprint": fmt.Sprint(c), "pointer %+v": fmt.Sprintf("%+v", &c),
		"slice": fmt.Sprint([]slack.Channel{c}), "slog": logged.String(), "json": string(encoded),
	} {
		if strings.Contains(out, "sEcReTtOkEn") {
			t.Errorf("%s prints the webhook URL: %s", name, out)
		}
		if !strings.Contains(out, "C0001") {
			t.Errorf("%s lost the channel id: %s", name, out)
		}
	}
	if got := fmt.Sprintf("%+v", c); !strings.Contains(got, "WebhookURL:[redacted]") {
		t.Errorf("%%+v = %s, want the URL shown as redacted", got)
	}
	if got := fmt.Sprintf("%+v", c.Public()); !strings.Contains(got, "WebhookURL: ") {
		t.Errorf("%%+v of Public = %s, want an empty URL", got)
	}
}

func TestNewChannelID(t *testing.T) {
	t.Parallel()
	a := slack.NewChannelID("tenant-a", "user-1", "T0001", "C0001")
	if a != slack.NewChannelID("tenant-a", "user-1", "T0001", "C0001") {
		t.Fatal("not deterministic")
	}
	seen := map[string]string{a: "base"}
	for name, id := range map[string]string{
		"other tenant":  slack.NewChannelID("tenant-b", "user-1", "T0001", "C0001"),
		"other owner":   slack.NewChannelID("tenant-a", "user-2", "T0001", "C0001"),
		"other team":    slack.NewChannelID("tenant-a", "user-1", "T0002", "C0001"),
		"other channel": slack.NewChannelID("tenant-a", "user-1", "T0001", "C0002"),
		"shifted parts": slack.NewChannelID("tenant-a", "user-1T0001", "", "C0001"),
	} {
		if prev, ok := seen[id]; ok {
			t.Fatalf("%s collides with %s: %s", name, prev, id)
		}
		seen[id] = name
	}
	if !strings.HasPrefix(a, "slk_") || len(a) != 36 {
		t.Fatalf("id %q, want slk_ and 32 hex digits", a)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	if err := channel().Validate(); err != nil {
		t.Fatalf("valid channel: %v", err)
	}
	for _, tc := range []struct {
		field  string
		change func(*slack.Channel)
	}{
		{"tenant_id", func(c *slack.Channel) { c.TenantID = "" }},
		{"owner_id", func(c *slack.Channel) { c.OwnerID = "user#1" }},
		{"team_id", func(c *slack.Channel) { c.TeamID = "T-1" }},
		{"channel_id", func(c *slack.Channel) { c.ChannelID = "" }},
		{"id", func(c *slack.Channel) { c.ID = "slk_chosen_by_caller" }},
		{"id", func(c *slack.Channel) { c.ChannelID = "C0002" }},
		{"webhook_url", func(c *slack.Channel) { c.WebhookURL = "" }},
		{"webhook_url", func(c *slack.Channel) { c.WebhookURL = "hooks.slack.com/services/sEcReTtOkEn" }},
		{"created_at", func(c *slack.Channel) { c.CreatedAt = time.Time{} }},
	} {
		c := channel()
		tc.change(&c)
		err := c.Validate()
		var fe *stagehooks.FieldError
		if !errors.Is(err, stagehooks.ErrInvalid) || !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: error %v, want a FieldError on %s", tc.field, err, tc.field)
		}
		if err != nil && strings.Contains(err.Error(), "sEcReTtOkEn") {
			t.Errorf("%s: error quotes the webhook URL: %v", tc.field, err)
		}
	}
}
