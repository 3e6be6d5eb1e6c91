package contract

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/mailbatch"
)

// mailEpoch has a millisecond part, the precision every store keeps.
var mailEpoch = time.Date(2026, 5, 1, 9, 0, 0, 123000000, time.UTC)

func newMailLine(r mailbatch.Recipient, id string, minutes int) mailbatch.Line {
	return mailbatch.Line{
		ID: id, TenantID: r.TenantID, Recipient: r.Address, NotificationID: "ntf_" + r.TenantID, NotificationTitle: "QA « alerts »",
		ProjectHash: "proj-1", EventType: "task_submitted", Text: "annotator@example.com submitted task " + id + ".",
		OccurredAt: mailEpoch.Add(time.Duration(minutes) * time.Minute),
		AddedAt:    mailEpoch.Add(time.Duration(minutes) * time.Minute),
	}
}

// sameLine compares every field, times at millisecond precision and in UTC.
func sameLine(t *testing.T, got, want mailbatch.Line) {
	t.Helper()
	if got.OccurredAt.Location() != time.UTC {
		t.Errorf("line %s: occurred_at in %v, want UTC", got.ID, got.OccurredAt.Location())
	}
	if !got.OccurredAt.Truncate(time.Millisecond).Equal(want.OccurredAt.Truncate(time.Millisecond)) {
		t.Errorf("line %s: occurred_at %v, want %v", got.ID, got.OccurredAt, want.OccurredAt)
	}
	if !got.AddedAt.Truncate(time.Millisecond).Equal(want.AddedAt.Truncate(time.Millisecond)) {
		t.Errorf("line %s: added_at %v, want %v", got.ID, got.AddedAt, want.AddedAt)
	}
	got.OccurredAt, want.OccurredAt, got.AddedAt, want.AddedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("line\n got %+v\nwant %+v", got, want)
	}
}

func recipientKey(r mailbatch.Recipient) string { return r.TenantID + "\x00" + r.Address }

// pendingOf drains PendingRecipients, sorted since the order is unspecified.
func pendingOf(t *testing.T, s mailbatch.Store) []mailbatch.Recipient {
	t.Helper()
	var out []mailbatch.Recipient
	for r, err := range s.PendingRecipients(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b mailbatch.Recipient) int { return cmp.Compare(recipientKey(a), recipientKey(b)) })
	return out
}

func lineIDsOf(lines []mailbatch.Line) []string {
	ids := make([]string, len(lines))
	for i, l := range lines {
		ids[i] = l.ID
	}
	return ids
}

// TestMailLineStore runs the email-line store contract against a fresh, empty store per
// subtest.
func TestMailLineStore(t *testing.T, newStore func(t *testing.T) mailbatch.Store) {
	ctx := context.Background()
	add := func(t *testing.T, s mailbatch.Store, lines ...mailbatch.Line) int {
		t.Helper()
		n, err := s.AddLines(ctx, lines)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	claimAt := func(t *testing.T, s mailbatch.Store, r mailbatch.Recipient, window int64, now time.Time) (mailbatch.Claim, bool) {
		t.Helper()
		c, ok, err := s.Claim(ctx, r, window, now, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return c, ok
	}
	mustClaim := func(t *testing.T, s mailbatch.Store, r mailbatch.Recipient, window int64, now time.Time) mailbatch.Claim {
		t.Helper()
		c, ok := claimAt(t, s, r, window, now)
		if !ok {
			t.Fatalf("claim of window %d at %v refused", window, now)
		}
		return c
	}
	linesOf := func(t *testing.T, s mailbatch.Store, r mailbatch.Recipient, limit int) []mailbatch.Line {
		t.Helper()
		lines, err := s.PendingLines(ctx, r, limit)
		if err != nil {
			t.Fatal(err)
		}
		return lines
	}
	markSent := func(t *testing.T, s mailbatch.Store, c mailbatch.Claim, ids []string, allSent bool) {
		t.Helper()
		if err := s.MarkSent(ctx, c, ids, allSent, mailEpoch); err != nil {
			t.Fatal(err)
		}
	}
	wantPending := func(t *testing.T, s mailbatch.Store, want ...mailbatch.Recipient) {
		t.Helper()
		if got := pendingOf(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("pending %v, want %v", got, want)
		}
	}
	a := mailbatch.Recipient{TenantID: "tenant-a", Address: "qa@example.com"}
	b := mailbatch.Recipient{TenantID: "tenant-b", Address: a.Address}

	t.Run("lines read back with every field, oldest first, then by id, within the limit", func(t *testing.T) {
		s := newStore(t)
		late, tieB, tieA, first := newMailLine(a, "l-0", 3), newMailLine(a, "l-b", 2), newMailLine(a, "l-a", 2), newMailLine(a, "l-z", 1)
		first.OccurredAt = first.OccurredAt.Add(456 * time.Microsecond)
		if n := add(t, s, late, tieB, tieA, first); n != 4 {
			t.Fatalf("added %d, want 4", n)
		}
		got := linesOf(t, s, a, 3)
		if fmt.Sprint(lineIDsOf(got)) != "[l-z l-a l-b]" {
			t.Fatalf("read %v, want [l-z l-a l-b]", lineIDsOf(got))
		}
		for i, want := range []mailbatch.Line{first, tieA, tieB} {
			sameLine(t, got[i], want)
		}
		if all := linesOf(t, s, a, 10); fmt.Sprint(lineIDsOf(all)) != "[l-z l-a l-b l-0]" {
			t.Fatalf("read %v with room for all", lineIDsOf(all))
		}
	})

	t.Run("a line stored without its time of adding gets the time of the call", func(t *testing.T) {
		s := newStore(t)
		l := newMailLine(a, "l-1", 0)
		l.AddedAt = time.Time{}
		before := time.Now()
		add(t, s, l)
		after := time.Now()
		got := linesOf(t, s, a, 10)
		if len(got) != 1 || got[0].AddedAt.Before(before.Truncate(time.Millisecond)) || got[0].AddedAt.After(after) {
			t.Fatalf("read %+v; want added_at between %v and %v", got, before, after)
		}
	})

	t.Run("a line is stored once, pending or sent", func(t *testing.T) {
		s := newStore(t)
		l := newMailLine(a, "l-1", 0)
		if n := add(t, s, l, l); n != 1 {
			t.Fatalf("a line twice in one call: %d new, want 1", n)
		}
		if n := add(t, s, l); n != 0 {
			t.Fatalf("a pending line added again: %d new", n)
		}
		c := mustClaim(t, s, a, 1, mailEpoch)
		if c.Seq != 1 {
			t.Fatalf("seq %d after one new line and two repeats", c.Seq)
		}
		markSent(t, s, c, []string{"l-1"}, true)
		if n := add(t, s, l); n != 0 {
			t.Fatalf("a sent line added again: %d new", n)
		}
		wantPending(t, s)
		if lines := linesOf(t, s, a, 10); len(lines) != 0 {
			t.Fatalf("a sent line is pending again: %v", lineIDsOf(lines))
		}
		if _, ok := claimAt(t, s, a, 2, mailEpoch); !ok {
			t.Fatal("claim refused")
		}
	})

	t.Run("tenants are apart: lines, pending and claims", func(t *testing.T) {
		s := newStore(t)
		if n := add(t, s, newMailLine(a, "same-id", 0), newMailLine(b, "same-id", 1)); n != 2 {
			t.Fatalf("the same line id in two tenants: %d new, want 2", n)
		}
		wantPending(t, s, a, b)
		ca := mustClaim(t, s, a, 5, mailEpoch)
		if _, ok := claimAt(t, s, b, 5, mailEpoch); !ok {
			t.Fatal("tenant-a's claim blocked tenant-b's recipient of the same address")
		}
		for _, r := range []mailbatch.Recipient{a, b} {
			lines := linesOf(t, s, r, 10)
			if len(lines) != 1 || lines[0].TenantID != r.TenantID || lines[0].Recipient != r.Address {
				t.Fatalf("%s reads %+v", r.TenantID, lines)
			}
		}
		markSent(t, s, ca, []string{"same-id"}, true)
		if lines := linesOf(t, s, b, 10); len(lines) != 1 {
			t.Fatal("marking tenant-a's line sent touched tenant-b's")
		}
		if lines := linesOf(t, s, a, 10); len(lines) != 0 {
			t.Fatalf("tenant-a still has %v", lineIDsOf(lines))
		}
		wantPending(t, s, b)
		if n := add(t, s, newMailLine(a, "same-id", 0)); n != 0 {
			t.Fatal("tenant-a's sent line was taken for new")
		}
	})

	t.Run("pending lists exactly the recipients with unsent lines", func(t *testing.T) {
		s := newStore(t)
		wantPending(t, s)
		c := mailbatch.Recipient{TenantID: "tenant-a", Address: "ops@example.com"}
		add(t, s, newMailLine(a, "l-1", 0), newMailLine(a, "l-2", 1), newMailLine(c, "l-1", 0))
		wantPending(t, s, c, a)
		claim := mustClaim(t, s, c, 1, mailEpoch)
		markSent(t, s, claim, []string{"l-1"}, false)
		wantPending(t, s, c, a)
		claim = mustClaim(t, s, c, 2, mailEpoch)
		markSent(t, s, claim, nil, true)
		wantPending(t, s, a)
		claim = mustClaim(t, s, a, 1, mailEpoch)
		markSent(t, s, claim, []string{"l-1", "l-2"}, true)
		wantPending(t, s)
		add(t, s, newMailLine(a, "l-3", 2))
		wantPending(t, s, a)
	})

	t.Run("a line added after the claim keeps its recipient pending", func(t *testing.T) {
		s := newStore(t)
		add(t, s, newMailLine(a, "l-1", 0))
		c := mustClaim(t, s, a, 1, mailEpoch)
		lines := linesOf(t, s, a, 10)
		add(t, s, newMailLine(a, "l-2", 1))
		markSent(t, s, c, lineIDsOf(lines), true)
		wantPending(t, s, a)
		if left := linesOf(t, s, a, 10); fmt.Sprint(lineIDsOf(left)) != "[l-2]" {
			t.Fatalf("left %v, want [l-2]", lineIDsOf(left))
		}
		c2 := mustClaim(t, s, a, 2, mailEpoch) // MarkSent ended the lease
		if c2.Seq != 2 {
			t.Fatalf("seq %d after two lines", c2.Seq)
		}
		markSent(t, s, c2, []string{"l-2"}, false)
		wantPending(t, s, a) // allSent false: more lines may wait
		markSent(t, s, mustClaim(t, s, a, 3, mailEpoch), nil, true)
		wantPending(t, s)
	})

	t.Run("one claim per window; a live lease blocks the next window until it ends", func(t *testing.T) {
		s := newStore(t)
		add(t, s, newMailLine(a, "l-1", 0))
		if _, ok := claimAt(t, s, mailbatch.Recipient{TenantID: a.TenantID, Address: "nobody@example.com"}, 1, mailEpoch); ok {
			t.Fatal("claimed a recipient without lines")
		}
		c := mustClaim(t, s, a, 7, mailEpoch)
		if c.Recipient != a || c.Window != 7 || c.Seq != 1 || !c.LeaseUntil.Equal(mailEpoch.Add(time.Minute)) {
			t.Fatalf("claim %+v", c)
		}
		if _, ok := claimAt(t, s, a, 7, mailEpoch); ok {
			t.Fatal("the same window claimed twice")
		}
		if _, ok := claimAt(t, s, a, 7, mailEpoch.Add(2*time.Minute)); ok {
			t.Fatal("the same window claimed again once the lease ended")
		}
		if _, ok := claimAt(t, s, a, 8, mailEpoch.Add(30*time.Second)); ok {
			t.Fatal("the next window claimed while the lease is live")
		}
		if _, ok := claimAt(t, s, a, 6, mailEpoch.Add(2*time.Minute)); ok {
			t.Fatal("an earlier window claimed")
		}
		mustClaim(t, s, a, 8, mailEpoch.Add(time.Minute)) // the lease ends at its time
	})

	t.Run("release ends the lease, not the window", func(t *testing.T) {
		s := newStore(t)
		add(t, s, newMailLine(a, "l-1", 0))
		c := mustClaim(t, s, a, 3, mailEpoch)
		if err := s.Release(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, ok := claimAt(t, s, a, 3, mailEpoch); ok {
			t.Fatal("a released window claimed again: a second email in one window")
		}
		mustClaim(t, s, a, 4, mailEpoch)
		if lines := linesOf(t, s, a, 10); len(lines) != 1 {
			t.Fatal("a release lost the lines")
		}
		wantPending(t, s, a)
	})

	t.Run("a claim whose lease ran out does not end a later claim's lease", func(t *testing.T) {
		s := newStore(t)
		add(t, s, newMailLine(a, "l-1", 0))
		stale := mustClaim(t, s, a, 1, mailEpoch)
		later := mailEpoch.Add(2 * time.Minute)
		mustClaim(t, s, a, 2, later)
		if err := s.Release(ctx, stale); err != nil {
			t.Fatal(err)
		}
		markSent(t, s, stale, []string{"l-1"}, true)
		if _, ok := claimAt(t, s, a, 3, later); ok {
			t.Fatal("a stale claim ended the lease of window 2's run")
		}
	})

	t.Run("pending lists every recipient, page after page", func(t *testing.T) {
		s := newStore(t)
		const n = 1_200
		lines := make([]mailbatch.Line, n)
		for i := range n {
			lines[i] = newMailLine(mailbatch.Recipient{TenantID: a.TenantID, Address: fmt.Sprintf("user%04d@example.com", i)}, "l", 0)
		}
		if got := add(t, s, lines...); got != n {
			t.Fatalf("added %d, want %d", got, n)
		}
		p := pendingOf(t, s)
		if len(p) != n {
			t.Fatalf("%d pending, want %d", len(p), n)
		}
		for i, r := range p {
			if want := fmt.Sprintf("user%04d@example.com", i); r.TenantID != a.TenantID || r.Address != want {
				t.Fatalf("pending[%d] = %+v, want %s", i, r, want)
			}
		}
	})
}
