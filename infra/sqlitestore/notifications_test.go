package sqlitestore

import (
	"context"
	"strings"
	"testing"

	"github.com/heraldhq/herald/infra/sqlitedb"
)

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
		plan, err := sqlitedb.QueryPlan(context.Background(), db, tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range tc.want {
			if !strings.Contains(strings.Join(plan, "\n"), want) {
				t.Errorf("plan of %s:\n%s\nwant %s", tc.query, strings.Join(plan, "\n"), want)
			}
		}
	}
}
