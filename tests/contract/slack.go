package contract

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/slack"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// SlackChannelStore is the surface of a store of users' Slack channels.
type SlackChannelStore interface {
	SaveChannel(ctx context.Context, ch slack.Channel) error
	ListChannels(ctx context.Context, tenant, owner string) ([]slack.Channel, error)
	GetChannels(ctx context.Context, tenant, owner string, ids []string) (map[string]slack.Channel, error)
	DeleteChannel(ctx context.Context, tenant, owner, id string) error
	MarkBroken(ctx context.Context, tenant, owner, id, reason string, at time.Time) error
}

// slackEpoch is a fixed time with a nanosecond part, so the stores must keep all nine digits.
var slackEpoch = time.Date(2026, 4, 1, 8, 30, 0, 123456789, time.UTC)

// NewSlackChannel returns a valid channel of owner in tenant, connected minutes after a fixed
// time.
func NewSlackChannel(tenant, owner, team, channel string, minutes int) slack.Channel {
	return slack.Channel{
		ID: slack.NewChannelID(tenant, owner, team, channel), TenantID: tenant, OwnerID: owner,
		TeamID: team, TeamName: "Team " + team, ChannelID: channel, ChannelName: "#" + channel,
		WebhookURL:       fmt.Sprintf("https://hooks.slack.com/services/%s/B%d/%s-%s-%s", team, minutes, tenant, owner, channel),
		ConfigurationURL: fmt.Sprintf("https://%s.slack.com/services/B%d", team, minutes),
		CreatedAt:        slackEpoch.Add(time.Duration(minutes) * time.Minute),
	}
}

// sameChannel compares every field; fmt cannot, since it redacts the webhook URL.
func sameChannel(a, b slack.Channel) bool {
	return a.ID == b.ID && a.TenantID == b.TenantID && a.OwnerID == b.OwnerID && a.TeamID == b.TeamID &&
		a.TeamName == b.TeamName && a.ChannelID == b.ChannelID && a.ChannelName == b.ChannelName &&
		a.WebhookURL == b.WebhookURL && a.ConfigurationURL == b.ConfigurationURL && a.CreatedAt.Equal(b.CreatedAt)
}

func channelIDs(chs []slack.Channel) []string {
	ids := make([]string, len(chs))
	for i, ch := range chs {
		ids[i] = ch.ChannelID
	}
	return ids
}

// TestSlackChannelStore runs the Slack-channel-store contract against a fresh, empty store
// per subtest.
func TestSlackChannelStore(t *testing.T, newStore func(t *testing.T) SlackChannelStore) {
	ctx := context.Background()
	save := func(t *testing.T, s SlackChannelStore, chs ...slack.Channel) {
		t.Helper()
		for _, ch := range chs {
			if err := s.SaveChannel(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("save and get round-trip every field; list leaves out the webhook URL", func(t *testing.T) {
		s := newStore(t)
		ch := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0ALERTS", 0)
		ch.TeamName, ch.ChannelName = "Ünïcode & Co", "#alertes-été"
		bare := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0BARE", 1)
		bare.TeamName, bare.ChannelName, bare.ConfigurationURL = "", "", ""
		save(t, s, ch, bare)
		got, err := s.GetChannels(ctx, "tenant-a", "user-1", []string{ch.ID, bare.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !sameChannel(got[ch.ID], ch) || !sameChannel(got[bare.ID], bare) {
			t.Fatalf("got  %+v\nwant %+v and %+v (webhook URLs %q, %q)", got, ch, bare, got[ch.ID].WebhookURL, got[bare.ID].WebhookURL)
		}
		if got[ch.ID].CreatedAt.Location() != time.UTC {
			t.Fatalf("created_at in %v, want UTC", got[ch.ID].CreatedAt.Location())
		}
		list, err := s.ListChannels(ctx, "tenant-a", "user-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || !sameChannel(list[0], bare.Public()) || !sameChannel(list[1], ch.Public()) {
			t.Fatalf("list %+v, want the two channels as Public, newest first", list)
		}
	})

	t.Run("invalid channel is refused before storage", func(t *testing.T) {
		s := newStore(t)
		for name, change := range map[string]func(*slack.Channel){
			"id not derived": func(c *slack.Channel) { c.ID = "slk_mine" },
			"no webhook":     func(c *slack.Channel) { c.WebhookURL = "" },
			"owner with #":   func(c *slack.Channel) { c.OwnerID = "user#1" },
			"no created_at":  func(c *slack.Channel) { c.CreatedAt = time.Time{} },
		} {
			ch := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0ALERTS", 0)
			change(&ch)
			if err := s.SaveChannel(ctx, ch); !errors.Is(err, stagehooks.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
		list, err := s.ListChannels(ctx, "tenant-a", "user-1")
		if err != nil || len(list) != 0 {
			t.Fatalf("after refused saves: %v, %v", list, err)
		}
	})

	t.Run("channels are the owner's alone: other users and tenants see nothing", func(t *testing.T) {
		s := newStore(t)
		mine := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0ALERTS", 0)
		// The same Slack channel connected by a colleague and by a namesake in another tenant
		// are separate records with their own webhooks.
		colleague := NewSlackChannel("tenant-a", "user-2", "T0ACME", "C0ALERTS", 1)
		namesake := NewSlackChannel("tenant-b", "user-1", "T0ACME", "C0ALERTS", 2)
		save(t, s, mine, colleague, namesake)

		for _, tc := range []struct{ tenant, owner, want string }{
			{"tenant-a", "user-1", mine.ID}, {"tenant-a", "user-2", colleague.ID}, {"tenant-b", "user-1", namesake.ID},
		} {
			list, err := s.ListChannels(ctx, tc.tenant, tc.owner)
			if err != nil || len(list) != 1 || list[0].ID != tc.want {
				t.Fatalf("list of %s/%s: %+v, %v, want only %s", tc.tenant, tc.owner, list, err, tc.want)
			}
			got, err := s.GetChannels(ctx, tc.tenant, tc.owner, []string{mine.ID, colleague.ID, namesake.ID})
			if err != nil || len(got) != 1 || got[tc.want].ID != tc.want {
				t.Fatalf("get by %s/%s: %+v, %v, want only %s", tc.tenant, tc.owner, got, err, tc.want)
			}
		}
		for _, who := range []struct{ tenant, owner string }{{"tenant-a", "user-3"}, {"tenant-c", "user-1"}} {
			list, err := s.ListChannels(ctx, who.tenant, who.owner)
			if err != nil || len(list) != 0 {
				t.Fatalf("list of %s/%s: %+v, %v, want none", who.tenant, who.owner, list, err)
			}
		}

		// Deleting someone else's channel fails and leaves it alone.
		if err := s.DeleteChannel(ctx, "tenant-a", "user-2", mine.ID); !errors.Is(err, stagehooks.ErrNotFound) {
			t.Fatalf("user-2 deleting user-1's channel: %v, want ErrNotFound", err)
		}
		if err := s.DeleteChannel(ctx, "tenant-b", "user-1", mine.ID); !errors.Is(err, stagehooks.ErrNotFound) {
			t.Fatalf("tenant-b deleting tenant-a's channel: %v, want ErrNotFound", err)
		}
		got, err := s.GetChannels(ctx, "tenant-a", "user-1", []string{mine.ID})
		if err != nil || !sameChannel(got[mine.ID], mine) {
			t.Fatalf("user-1's channel after others' deletes: %+v, %v", got, err)
		}
	})

	t.Run("re-connecting a channel replaces the earlier record", func(t *testing.T) {
		s := newStore(t)
		first := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0ALERTS", 0)
		other := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0OPS", 1)
		// The same channel id in another workspace is another channel.
		otherTeam := NewSlackChannel("tenant-a", "user-1", "T0OTHER", "C0ALERTS", 2)
		save(t, s, first, other, otherTeam)
		again := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0ALERTS", 10)
		again.ChannelName, again.TeamName = "#alerts-renamed", "Acme Inc"
		again.ConfigurationURL = ""
		if again.ID != first.ID || again.WebhookURL == first.WebhookURL {
			t.Fatalf("test setup: re-connect must keep the id and bring a new webhook")
		}
		save(t, s, again)

		list, err := s.ListChannels(ctx, "tenant-a", "user-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 || !sameChannel(list[0], again.Public()) {
			t.Fatalf("list %+v, want 3 channels with the re-connected one first", list)
		}
		got, err := s.GetChannels(ctx, "tenant-a", "user-1", []string{first.ID})
		if err != nil || !sameChannel(got[first.ID], again) {
			t.Fatalf("get after re-connect: %+v, %v, want the new record (new webhook, no configuration URL)", got, err)
		}
	})

	t.Run("list is newest first", func(t *testing.T) {
		s := newStore(t)
		save(t, s,
			NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0B", 5),
			NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0A", 20),
			NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0D", -30),
			NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0C", 7),
		)
		list, err := s.ListChannels(ctx, "tenant-a", "user-1")
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(channelIDs(list)); got != "[C0A C0C C0B C0D]" {
			t.Fatalf("order %s, want [C0A C0C C0B C0D]", got)
		}
		for _, ch := range list {
			if ch.WebhookURL != "" {
				t.Fatalf("list returned the webhook URL of %s", ch.ChannelID)
			}
		}
	})

	t.Run("get returns only existing ids, once each, whatever their number", func(t *testing.T) {
		s := newStore(t)
		a := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0A", 0)
		b := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0B", 1)
		save(t, s, a, b)
		// More ids than one DynamoDB batch holds, duplicates and malformed ids included.
		ids := []string{a.ID, b.ID, a.ID, "", "slk_missing", "has#hash", "way-too-long-" + string(make([]byte, 200))}
		for i := range 110 {
			ids = append(ids, fmt.Sprintf("slk_missing_%d", i))
		}
		ids = append(ids, b.ID)
		got, err := s.GetChannels(ctx, "tenant-a", "user-1", ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !sameChannel(got[a.ID], a) || !sameChannel(got[b.ID], b) {
			t.Fatalf("got %+v, want exactly C0A and C0B", got)
		}
		for _, none := range [][]string{nil, {}, {"slk_missing"}} {
			got, err := s.GetChannels(ctx, "tenant-a", "user-1", none)
			if err != nil || got == nil || len(got) != 0 {
				t.Fatalf("get %q: %v, %v, want an empty map", none, got, err)
			}
		}
	})

	t.Run("delete removes the channel; deleting again is not found", func(t *testing.T) {
		s := newStore(t)
		a := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0A", 0)
		b := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0B", 1)
		save(t, s, a, b)
		if err := s.DeleteChannel(ctx, "tenant-a", "user-1", a.ID); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListChannels(ctx, "tenant-a", "user-1")
		if err != nil || len(list) != 1 || list[0].ID != b.ID {
			t.Fatalf("list after delete: %+v, %v, want only C0B", list, err)
		}
		got, err := s.GetChannels(ctx, "tenant-a", "user-1", []string{a.ID, b.ID})
		if err != nil || len(got) != 1 {
			t.Fatalf("get after delete: %+v, %v", got, err)
		}
		for _, id := range []string{a.ID, "slk_never", "", "bad#id"} {
			if err := s.DeleteChannel(ctx, "tenant-a", "user-1", id); !errors.Is(err, stagehooks.ErrNotFound) {
				t.Fatalf("delete %q: %v, want ErrNotFound", id, err)
			}
		}
		// A deleted channel can be connected again.
		save(t, s, a)
		list, err = s.ListChannels(ctx, "tenant-a", "user-1")
		if err != nil || len(list) != 2 {
			t.Fatalf("list after re-connecting a deleted channel: %+v, %v", list, err)
		}
	})

	t.Run("a broken channel says why in get and list, alone; connecting it again mends it", func(t *testing.T) {
		s := newStore(t)
		gone := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0GONE", 0)
		fine := NewSlackChannel("tenant-a", "user-1", "T0ACME", "C0FINE", 1)
		rival := NewSlackChannel("tenant-b", "user-1", "T0ACME", "C0GONE", 2)
		save(t, s, gone, fine, rival)
		at := slackEpoch.Add(time.Hour)
		if err := s.MarkBroken(ctx, "tenant-a", "user-1", gone.ID, "slack answered 404 channel_not_found", at); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetChannels(ctx, "tenant-a", "user-1", []string{gone.ID, fine.ID})
		if err != nil {
			t.Fatal(err)
		}
		if g := got[gone.ID]; g.BrokenReason != "slack answered 404 channel_not_found" || !g.BrokenAt.Equal(at) || g.WebhookURL != gone.WebhookURL {
			t.Fatalf("broken channel read back as reason %q at %v", g.BrokenReason, g.BrokenAt)
		}
		if got[fine.ID].BrokenReason != "" || !got[fine.ID].BrokenAt.IsZero() {
			t.Fatalf("the owner's other channel was touched: %+v", got[fine.ID])
		}
		list, _ := s.ListChannels(ctx, "tenant-a", "user-1")
		for _, ch := range list {
			if (ch.ID == gone.ID) != (ch.BrokenReason != "") {
				t.Errorf("list shows %s with broken reason %q", ch.ChannelID, ch.BrokenReason)
			}
		}
		if other, _ := s.GetChannels(ctx, "tenant-b", "user-1", []string{rival.ID}); other[rival.ID].BrokenReason != "" {
			t.Fatal("marking a channel broken reached another tenant's channel")
		}
		for _, who := range [][2]string{{"tenant-a", "user-2"}, {"tenant-b", "user-1"}} {
			if err := s.MarkBroken(ctx, who[0], who[1], gone.ID, "x", at); !errors.Is(err, stagehooks.ErrNotFound) {
				t.Errorf("marking %s's channel as %v: %v, want ErrNotFound", gone.ID, who, err)
			}
		}
		save(t, s, gone)
		got, _ = s.GetChannels(ctx, "tenant-a", "user-1", []string{gone.ID})
		if got[gone.ID].BrokenReason != "" || !got[gone.ID].BrokenAt.IsZero() {
			t.Fatalf("re-connected channel still broken: %q", got[gone.ID].BrokenReason)
		}
	})
}
