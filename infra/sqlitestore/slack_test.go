package sqlitestore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/slack"
)

// The contract suite (tests/contract) covers the behaviour shared with DynamoDB; these tests
// cover the embedded store's own concerns: migrating beside the other tables, its file, and
// that a user's channels are read by key, never by scanning the table.

func slackChannel(owner, channel string, at time.Time) slack.Channel {
	return slack.Channel{
		ID: slack.NewChannelID("tenant-a", owner, "T0ACME", channel), TenantID: "tenant-a", OwnerID: owner,
		TeamID: "T0ACME", TeamName: "Acme", ChannelID: channel, ChannelName: "#" + channel,
		WebhookURL: "https://hooks.slack.com/services/T0ACME/B0/" + owner + channel, CreatedAt: at,
	}
}

func TestSlackChannelsMigrateBesideStoreAndSurviveReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	newStore(t, db, Options{})
	s, err := NewSlackChannels(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ch := slackChannel("user-1", "C0A", base)
	if err := s.SaveChannel(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Migrating again (every start does) keeps the data.
	again, err := NewSlackChannels(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	db.Close()

	db = openDB(t, dir)
	s, err = NewSlackChannels(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.GetChannels(ctx, "tenant-a", "user-1", []string{ch.ID})
	if err != nil || got[ch.ID].WebhookURL != ch.WebhookURL || !got[ch.ID].CreatedAt.Equal(base) {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
}

func TestSlackChannelReadsUseTheKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	s, err := NewSlackChannels(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, owner := range []string{"user-1", "user-2", "user-3"} {
		if err := s.SaveChannel(ctx, slackChannel(owner, "C0A", base.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	for name, q := range map[string]struct {
		sql  string
		args []any
	}{
		"list": {slackListSQL, []any{"tenant-a", "user-1"}},
		"get":  {slackGetSQL, []any{`["a","b"]`, "tenant-a", "user-1"}},
	} {
		plan, err := sqlitedb.QueryPlan(ctx, db, q.sql, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, "SEARCH c USING INDEX sqlite_autoindex_slack_channels_1 (tenant_id=? AND owner_id=?") {
			t.Errorf("%s plan %q, want a search of the primary key by tenant and owner", name, joined)
		}
	}
}
