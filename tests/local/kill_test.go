package local_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	_ "modernc.org/sqlite" // the "sqlite" driver, to read the data directory after a failure
)

// TestKilledFiveTimesUnderLoadLosesNothing: a producer publishes distinct stage transitions as
// fast as Herald accepts them; Herald is killed with SIGKILL mid-load, started again on the
// same data directory, loaded and killed again, five times over. Every event whose PutEvents
// entry was accepted must reach both receivers, a plain webhook's and an ordered one's (whose
// jobs ride the FIFO queue), each delivery under its one webhook-id.
func TestKilledFiveTimesUnderLoadLosesNothing(t *testing.T) {
	const kills = 5
	dataDir := t.TempDir()
	r, ordered := newReceiver(t), newReceiver(t)
	r.secret = addWebhook(t, dataDir, r.srv.URL+"/hook")
	ordered.secret = addWebhook(t, dataDir, ordered.srv.URL+"/ordered", "-ordered")

	var mu sync.Mutex
	var accepted []string
	next := 0 // the first transition number of a cycle, so no two cycles publish the same event
	var first *process
	for cycle := range kills {
		first = startHerald(t, dataDir)
		client := eventBridge(t, first.eventsURL)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		base := next
		for worker := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := worker; ; i += 4 {
					select {
					case <-stop:
						return
					default:
					}
					entries := make([]ebtypes.PutEventsRequestEntry, 0, 5)
					created := make([]string, 0, 5)
					for j := range 5 {
						e, c := transition(t, base+i*5+j)
						entries = append(entries, e)
						created = append(created, c)
					}
					out, err := client.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: entries})
					if err != nil {
						continue // not accepted: the producer would retry, and owns it until then
					}
					mu.Lock()
					for k, res := range out.Entries {
						if res.EventId != nil && res.ErrorCode == nil {
							accepted = append(accepted, created[k])
						}
					}
					mu.Unlock()
				}
			}()
		}

		// Let the load build up, then kill while events are both arriving and in flight.
		mu.Lock()
		before := len(accepted)
		mu.Unlock()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			n := len(accepted) - before
			mu.Unlock()
			if n >= 150 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		first.kill(t)
		close(stop)
		wg.Wait()
		next = (cycle + 1) * 200_000 // far past what a cycle publishes
		mu.Lock()
		n := len(accepted) - before
		mu.Unlock()
		if n < 50 {
			t.Fatalf("kill %d: only %d events accepted before it; the load never built up:\n%s", cycle+1, n, first.output.String())
		}
	}

	mu.Lock()
	total := len(accepted)
	mu.Unlock()
	deliveredBeforeRestart := 0
	for _, c := range accepted {
		if r.delivered(c) {
			deliveredBeforeRestart++
		}
	}
	t.Logf("accepted %d events over %d kills, %d delivered before the last", total, kills, deliveredBeforeRestart)

	second := startHerald(t, dataDir)
	restarted := time.Now()
	// A job that met Herald's own fault (a busy database under load) waits 15 to 45 s before
	// it is sent again, and may meet one more: three minutes is a delay, not a loss.
	waitUntil := restarted.Add(3 * time.Minute)
	for {
		missing := 0
		for _, c := range accepted {
			if !r.delivered(c) {
				missing++
			}
			if !ordered.delivered(c) {
				missing++
			}
		}
		if missing == 0 {
			t.Logf("the last delivered %s after the restart", time.Since(restarted).Round(100*time.Millisecond))
			break
		}
		if time.Now().After(waitUntil) {
			t.Fatalf("%d of %d deliveries (%d accepted events, two webhooks) never made after the restart\n%s\n%s", missing, 2*total, total, second.output.String(), pendingWork(t, dataDir))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, rc := range []struct {
		name string
		r    *receiver
	}{{"plain", r}, {"ordered", ordered}} {
		rc.r.mu.Lock()
		if rc.r.bad != 0 || rc.r.idChanged != 0 {
			t.Errorf("%s webhook: %d deliveries failed signature verification, %d came again under another webhook-id", rc.name, rc.r.bad, rc.r.idChanged)
		}
		dups := 0
		for _, n := range rc.r.byTime {
			if n > 1 {
				dups++
			}
		}
		rc.r.mu.Unlock()
		t.Logf("%s webhook: all %d accepted events delivered; %d delivered more than once (at-least-once, same webhook-id)", rc.name, total, dups)
	}
}

// pendingWork says, for a failure message, what the data directory still holds: queued
// messages by queue and state, and attempts that did not succeed. It opens the database
// read-only beside the running Herald (WAL lets a reader in).
func pendingWork(t *testing.T, dataDir string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "herald.db")+"?mode=ro")
	if err != nil {
		return "open the database: " + err.Error()
	}
	defer db.Close()
	var b strings.Builder
	now := time.Now().UnixMicro()
	rows, err := db.Query(`SELECT queue, leased, visible_at > ?, receive_count, count(*) FROM queue_messages GROUP BY 1, 2, 3, 4`, now)
	if err != nil {
		return "read the queues: " + err.Error()
	}
	for rows.Next() {
		var queue string
		var leased, later bool
		var receives, n int
		_ = rows.Scan(&queue, &leased, &later, &receives, &n)
		fmt.Fprintf(&b, "queue %s: %d messages (in flight %v, delayed %v, received %d times)\n", queue, n, leased, later, receives)
	}
	rows.Close()
	rows, err = db.Query(`SELECT outcome, error_class, status_code, count(*) FROM attempts WHERE outcome != 'succeeded' GROUP BY 1, 2, 3`)
	if err != nil {
		return b.String() + "read the attempts: " + err.Error()
	}
	defer rows.Close()
	for rows.Next() {
		var outcome, class string
		var status, n int
		_ = rows.Scan(&outcome, &class, &status, &n)
		fmt.Fprintf(&b, "attempts %s %s %d: %d\n", outcome, class, status, n)
	}
	return b.String()
}
