package contract

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/mailbatch"
)

// mailEpoch is a fixed time with a millisecond part, which every store keeps.
var mailEpoch = time.Date(2026, 5, 1, 9, 0, 0, 123000000, time.UTC)

// NewMailLine returns a line for tenant's address, minutes after a fixed time.
func NewMailLine(tenant, address, id string, minutes int) mailbatch.Line {
	return mailbatch.Line{
		ID: id, TenantID: tenant, Recipient: address, NotificationID: "ntf_" + tenant, NotificationTitle: "QA « alerts »",
		ProjectHash: "proj-1", EventType: "task_submitted", Text: "annotator@example.com submitted task " + id + ".",
		OccurredAt: mailEpoch.Add(time.Duration(minutes) * time.Minute),
	}
}

func pendingOf(t *testing.T, s mailbatch.Store) []mailbatch.Recipient {
	t.Helper()
	var out []mailbatch.Recipient
	for r, err := range s.PendingRecipients(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b mailbatch.Recipient) int {
		return cmpStrings(a.TenantID+"\x00"+a.Address, b.TenantID+"\x00"+b.Address)
	})
	return out
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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
	claim := func(t *testing.T, s mailbatch.Store, r mailbatch.Recipient, window int64, now time.Time) (mailbatch.Claim, bool) {
		t.Helper()
		c, ok, err := s.Claim(ctx, r, window, now, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return c, ok
	}
	a := mailbatch.Recipient{TenantID: "tenant-a", Address: "qa@example.com"}

	t.Run("lines round-trip every field, oldest first, within the limit", func(t *testing.T) {
		s := newStore(t)
		l1, l2, l3 := NewMailLine("tenant-a", a.Address, "l-b", 2), NewMailLine("tenant-a", a.Address, "l-a", 1), NewMailLine("tenant-a", a.Address, "l-c", 3)
		if n := add(t, s, l1, l2, l3); n != 3 {
			t.Fatalf("added %d, want 3", n)
		}
		got, err := s.PendingLines(ctx, a, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || fmt.Sprint(got[0]) != fmt.Sprint(l2) || fmt.Sprint(got[1]) != fmt.Sprint(l1) {
			t.Fatalf("got  %+v\nwant %+v, %+v", got, l2, l1)
		}
		if got[0].OccurredAt.Location() != time.UTC {
			t.Fatalf("occurred_at in %v", got[0].OccurredAt.Location())
		}
	})

	t.Run("a line is stored once, pending or sent", func(t *testing.T) {
		s := newStore(t)
		l := NewMailLine("tenant-a", a.Address, "l-1", 0)
		add(t, s, l)
		if n := add(t, s, l, l); n != 0 {
			t.Fatalf("the same line added again: %d new", n)
		}
		c, ok := claim(t, s, a, 1, mailEpoch)
		if !ok {
			t.Fatal("claim refused")
		}
		if err := s.MarkSent(ctx, c, []string{"l-1"}, true, mailEpoch); err != nil {
			t.Fatal(err)
		}
		if n := add(t, s, l); n != 0 {
			t.Fatalf("a sent line added again: %d new", n)
		}
		if p := pendingOf(t, s); len(p) != 0 {
			t.Fatalf("pending after the repeat of a sent line: %v", p)
		}
		if lines, _ := s.PendingLines(ctx, a, 10); len(lines) != 0 {
			t.Fatalf("sent line still pending: %v", lines)
		}
	})

	t.Run("tenants are apart: lines, pending and claims", func(t *testing.T) {
		s := newStore(t)
		b := mailbatch.Recipient{TenantID: "tenant-b", Address: a.Address}
		add(t, s, NewMailLine("tenant-a", a.Address, "same-id", 0), NewMailLine("tenant-b", b.Address, "same-id", 1))
		if p := pendingOf(t, s); fmt.Sprint(p) != fmt.Sprint([]mailbatch.Recipient{a, b}) {
			t.Fatalf("pending %v", p)
		}
		ca, ok := claim(t, s, a, 5, mailEpoch)
		if !ok {
			t.Fatal("claim of tenant-a refused")
		}
		if _, ok := claim(t, s, b, 5, mailEpoch); !ok {
			t.Fatal("tenant-a's claim blocked tenant-b's recipient of the same address")
		}
		for _, r := range []mailbatch.Recipient{a, b} {
			lines, _ := s.PendingLines(ctx, r, 10)
			if len(lines) != 1 || lines[0].TenantID != r.TenantID {
				t.Fatalf("%s reads %+v", r.TenantID, lines)
			}
		}
		if err := s.MarkSent(ctx, ca, []string{"same-id"}, true, mailEpoch); err != nil {
			t.Fatal(err)
		}
		if lines, _ := s.PendingLines(ctx, b, 10); len(lines) != 1 {
			t.Fatal("marking tenant-a's line sent touched tenant-b's")
		}
		if p := pendingOf(t, s); fmt.Sprint(p) != fmt.Sprint([]mailbatch.Recipient{b}) {
			t.Fatalf("pending after tenant-a's email: %v", p)
		}
	})

	t.Run("one claim per window; a live lease blocks the next window until it ends", func(t *testing.T) {
		s := newStore(t)
		add(t, s, NewMailLine("tenant-a", a.Address, "l-1", 0))
		if _, ok := claim(t, s, mailbatch.Recipient{TenantID: "tenant-a", Address: "nobody@example.com"}, 1, mailEpoch); ok {
			t.Fatal("claimed a recipient without lines")
		}
		c, ok := claim(t, s, a, 7, mailEpoch)
		if !ok || c.Seq != 1 || c.Window != 7 {
			t.Fatalf("claim %+v %v", c, ok)
		}
		if _, ok := claim(t, s, a, 7, mailEpoch); ok {
			t.Fatal("the same window claimed twice")
		}
		if _, ok := claim(t, s, a, 8, mailEpoch.Add(30*time.Second)); ok {
			t.Fatal("the next window claimed while the lease is live")
		}
		if _, ok := claim(t, s, a, 6, mailEpoch.Add(2*time.Minute)); ok {
			t.Fatal("an earlier window claimed")
		}
		if _, ok := claim(t, s, a, 8, mailEpoch.Add(2*time.Minute)); !ok {
			t.Fatal("the next window refused after the lease ended")
		}
	})

	t.Run("release ends the lease, not the window", func(t *testing.T) {
		s := newStore(t)
		add(t, s, NewMailLine("tenant-a", a.Address, "l-1", 0))
		c, _ := claim(t, s, a, 3, mailEpoch)
		if err := s.Release(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, ok := claim(t, s, a, 3, mailEpoch); ok {
			t.Fatal("a released window claimed again: a second email in one window")
		}
		if _, ok := claim(t, s, a, 4, mailEpoch); !ok {
			t.Fatal("the next window refused after a release")
		}
		if lines, _ := s.PendingLines(ctx, a, 10); len(lines) != 1 {
			t.Fatal("a release lost the lines")
		}
	})

	t.Run("a line added after the claim keeps its recipient pending", func(t *testing.T) {
		s := newStore(t)
		add(t, s, NewMailLine("tenant-a", a.Address, "l-1", 0))
		c, _ := claim(t, s, a, 1, mailEpoch)
		lines, _ := s.PendingLines(ctx, a, 10)
		add(t, s, NewMailLine("tenant-a", a.Address, "l-2", 1))
		if err := s.MarkSent(ctx, c, lineIDsOf(lines), true, mailEpoch); err != nil {
			t.Fatal(err)
		}
		if p := pendingOf(t, s); len(p) != 1 {
			t.Fatalf("pending %v: the line that came during the send would wait forever", p)
		}
		if left, _ := s.PendingLines(ctx, a, 10); fmt.Sprint(lineIDsOf(left)) != "[l-2]" {
			t.Fatalf("left %v", lineIDsOf(left))
		}
		c2, ok := claim(t, s, a, 2, mailEpoch)
		if !ok {
			t.Fatal("MarkSent did not end the lease")
		}
		if err := s.MarkSent(ctx, c2, []string{"l-2"}, false, mailEpoch); err != nil {
			t.Fatal(err)
		}
		if p := pendingOf(t, s); len(p) != 1 {
			t.Fatal("allSent false cleared the pending mark")
		}
	})

	t.Run("pending lists every recipient, page after page", func(t *testing.T) {
		s := newStore(t)
		const n = 1_200
		var lines []mailbatch.Line
		for i := range n {
			lines = append(lines, NewMailLine("tenant-a", fmt.Sprintf("user%04d@example.com", i), "l", 0))
		}
		if got := add(t, s, lines...); got != n {
			t.Fatalf("added %d", got)
		}
		p := pendingOf(t, s)
		if len(p) != n || p[0].Address != "user0000@example.com" || p[n-1].Address != "user1199@example.com" {
			t.Fatalf("%d pending, want %d", len(p), n)
		}
	})
}
