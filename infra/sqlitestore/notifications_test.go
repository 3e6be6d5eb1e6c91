package sqlitestore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/shared/stagehooks"
)

// firstRelease is the webhooks table as the first release created it, before versions,
// secret rotation, notifications and unique URLs.
const firstRelease = `CREATE TABLE webhooks (
	tenant_id       TEXT    NOT NULL,
	id              TEXT    NOT NULL,
	owner_id        TEXT    NOT NULL,
	project_hash    TEXT    NOT NULL,
	stage_uuid      TEXT    NOT NULL,
	stage_type      TEXT    NOT NULL,
	url             TEXT    NOT NULL,
	secrets         TEXT    NOT NULL CHECK (json_valid(secrets) AND json_type(secrets) = 'array'),
	enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
	disabled_reason TEXT    NOT NULL DEFAULT '',
	created_at      TEXT    NOT NULL,
	updated_at      TEXT    NOT NULL,
	PRIMARY KEY (tenant_id, id)
) STRICT`

const firstReleaseRow = `INSERT INTO webhooks VALUES ('t', ?, 'o', 'p', 's', 'annotate', ?, '["whsec_x"]', 1, '',
	'2026-11-28T12:00:00.000000000Z', '2026-11-28T12:00:00.000000000Z')`

func TestNewUpgradesAFirstReleaseDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	if _, err := db.Exec(firstRelease); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(firstReleaseRow, "wh_old", "https://a.example/old"); err != nil {
		t.Fatal(err)
	}

	s := newStore(t, db, Options{})
	old, err := s.GetWebhook(ctx, "t", "wh_old")
	if err != nil || old.Version != 1 || !old.PreviousSecretExpiresAt.IsZero() || len(old.Secrets) != 1 {
		t.Fatalf("webhook from the first release: %+v, %v; want version 1, no rotation", old, err)
	}
	// The upgraded table enforces what a new one does.
	dup := old
	dup.ID = "wh_new"
	if err := s.CreateWebhook(ctx, dup); !errors.Is(err, stagehooks.ErrDuplicateURL) {
		t.Fatalf("duplicate of the old webhook's URL: %v, want ErrDuplicateURL", err)
	}
	if _, err := s.UpdateWebhook(ctx, old, 1); err != nil {
		t.Fatal(err)
	}
	page, err := s.ListWebhooks(ctx, "t", stagehooks.PageRequest{})
	if err != nil || len(page.Items) != 1 || page.Items[0].Version != 2 {
		t.Fatalf("list after upgrade: %+v, %v", page, err)
	}
	// A second start finds everything in place.
	newStore(t, openDB(t, dir), Options{})
}

func TestNewNamesWebhooksThatShareAURLOnAStage(t *testing.T) {
	t.Parallel()
	db := openDB(t, t.TempDir())
	if _, err := db.Exec(firstRelease); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"wh_1", "wh_2"} {
		if _, err := db.Exec(firstReleaseRow, id, "https://a.example/same"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := New(context.Background(), db, Options{})
	if err == nil || !strings.Contains(err.Error(), "wh_1, wh_2") || !strings.Contains(err.Error(), "https://a.example/same") {
		t.Fatalf("New over duplicate URLs: %v; want an error naming both webhooks and the URL", err)
	}
	t.Logf("error: %v", err)
}

// The configuration reads must stay index searches within the tenant: a full scan would make
// one tenant's list cost every tenant's rows.
func TestConfigQueriesUseTheirIndexes(t *testing.T) {
	t.Parallel()
	db := openDB(t, t.TempDir())
	newStore(t, db, Options{})
	for _, tc := range []struct {
		query string
		args  []any
		want  []string
	}{
		{listWebhooksSQL, []any{"t", "", 21}, []string{"SEARCH webhooks USING INDEX sqlite_autoindex_webhooks_1 (tenant_id=? AND id>?)"}},
		{getNotificationSQL, []any{"t", "n"}, []string{
			"SEARCH n USING INDEX sqlite_autoindex_notifications_1 (tenant_id=? AND id=?)",
			"SEARCH w USING INDEX webhooks_by_notification (tenant_id=? AND notification_id=?)",
		}},
		{listNotificationsSQL, []any{"t", "", "qa", "u", "u", 21}, []string{
			"SEARCH notifications USING INDEX sqlite_autoindex_notifications_1 (tenant_id=? AND id>?)",
			"SEARCH w USING INDEX webhooks_by_notification (tenant_id=? AND notification_id=?)",
		}},
	} {
		rows, err := db.Query("EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, want := range tc.want {
			if !strings.Contains(strings.Join(plan, "\n"), want) {
				t.Errorf("plan of %s:\n%s\nwant %s", tc.query, strings.Join(plan, "\n"), want)
			}
		}
	}
}
