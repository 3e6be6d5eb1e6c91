package contract

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/mail"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/telemetry"
)

// mailbox is a mail sender that keeps what it is given, and fails the sends the test asks it
// to fail.
type mailbox struct {
	mu    sync.Mutex
	sent  map[string][]mail.Email // by recipient address
	fail  func(to string, try int) error
	tries map[string]int
	delay time.Duration
}

func newMailbox() *mailbox { return &mailbox{sent: map[string][]mail.Email{}, tries: map[string]int{}} }

func (m *mailbox) Send(ctx context.Context, e mail.Email) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if m.delay > 0 {
		time.Sleep(m.delay)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	to := e.To[0]
	m.tries[to]++
	if m.fail != nil {
		if err := m.fail(to, m.tries[to]); err != nil {
			return err
		}
	}
	m.sent[to] = append(m.sent[to], e)
	return nil
}

func (m *mailbox) to(address string) []mail.Email {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sent[address])
}

func (m *mailbox) total() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, es := range m.sent {
		n += len(es)
	}
	return n
}

// linesIn counts the lines an email lists: each line's text names its id once.
func linesIn(e mail.Email, ids ...string) []string {
	var found []string
	for _, id := range ids {
		if strings.Contains(e.Text, "task "+id+".") {
			found = append(found, id)
		}
	}
	return found
}

// TestMailer runs the mailer over a real email-line store, as the scheduled function does, one
// fresh store per subtest.
func TestMailer(t *testing.T, newStore func(t *testing.T) mailbatch.Store) {
	ctx := context.Background()
	const interval = time.Hour
	newMailer := func(s mailbatch.Store, box *mailbox, now func() time.Time) *mailbatch.Mailer {
		return &mailbatch.Mailer{
			Store: s, Sender: box, From: "Herald <herald@example.com>", Interval: interval, Rate: 1000,
			Links:  mailbatch.Links{BaseURL: "https://herald.example.com", Key: []byte(strings.Repeat("k", 32))},
			Logger: slog.New(slog.DiscardHandler), Now: now,
		}
	}
	at := func(windows int) func() time.Time {
		return func() time.Time { return mailEpoch.Add(time.Duration(windows) * interval) }
	}
	addLines := func(t *testing.T, s mailbatch.Store, lines ...mailbatch.Line) {
		t.Helper()
		if _, err := s.AddLines(ctx, lines); err != nil {
			t.Fatal(err)
		}
	}
	run := func(t *testing.T, m *mailbatch.Mailer) mailbatch.Report {
		t.Helper()
		rep, err := m.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	qa := mailbatch.Recipient{TenantID: "tenant-a", Address: "qa@example.com"}
	lead := mailbatch.Recipient{TenantID: "tenant-a", Address: "lead@example.com"}

	t.Run("two runs of one window at once send each recipient one email with every line once", func(t *testing.T) {
		s, box := newStore(t), newMailbox()
		addLines(t, s, newMailLine(qa, "q1", 0), newMailLine(qa, "q2", 1), newMailLine(lead, "l1", 0))
		var wg sync.WaitGroup
		reports := make([]mailbatch.Report, 2)
		for i := range reports {
			wg.Go(func() { reports[i] = run(t, newMailer(s, box, at(0))) })
		}
		wg.Wait()
		if reports[0].Sent+reports[1].Sent != 2 || box.total() != 2 {
			t.Fatalf("reports %+v, %d emails; want 2 emails in all", reports, box.total())
		}
		if got := linesIn(box.to(qa.Address)[0], "q1", "q2"); len(got) != 2 {
			t.Fatalf("qa's email lists %v, want q1 and q2", got)
		}
		// The schedule fires again in the same window: nothing more goes out.
		if rep := run(t, newMailer(s, box, at(0))); rep.Sent != 0 || box.total() != 2 {
			t.Fatalf("a second firing sent %+v", rep)
		}
	})

	t.Run("a recipient whose send fails gets its lines in the next window; the others go out", func(t *testing.T) {
		s, box := newStore(t), newMailbox()
		box.fail = func(to string, try int) error {
			if to == qa.Address && try == 1 {
				return fmt.Errorf("ses says no: %w", mail.ErrRejected)
			}
			return nil
		}
		addLines(t, s, newMailLine(qa, "q1", 0), newMailLine(lead, "l1", 0))
		if rep := run(t, newMailer(s, box, at(0))); rep.Sent != 1 || rep.Failed != 1 {
			t.Fatalf("first window %+v", rep)
		}
		addLines(t, s, newMailLine(qa, "q2", 30))
		if rep := run(t, newMailer(s, box, at(1))); rep.Sent != 1 || rep.Failed != 0 {
			t.Fatalf("next window %+v", rep)
		}
		got := box.to(qa.Address)
		if len(got) != 1 || len(linesIn(got[0], "q1", "q2")) != 2 || len(box.to(lead.Address)) != 1 {
			t.Fatalf("qa got %d emails (%v), lead %d", len(got), got, len(box.to(lead.Address)))
		}
	})

	t.Run("a recipient whose emails keep failing has its lines given up after GiveUpAfter, counted; younger ones wait", func(t *testing.T) {
		s, box := newStore(t), newMailbox()
		refusing := true
		box.fail = func(to string, _ int) error {
			if to == qa.Address && refusing {
				return fmt.Errorf("ses says no: %w", mail.ErrRejected)
			}
			return nil
		}
		addLines(t, s, newMailLine(qa, "q1", 0), newMailLine(qa, "q2", 150), newMailLine(lead, "l1", 0))
		counts := telemetry.NewMemory()
		runAt := func(windows int) mailbatch.Report {
			m := newMailer(s, box, at(windows))
			m.GiveUpAfter, m.Counter = 3*interval, counts
			return run(t, m)
		}
		if rep := runAt(1); rep.Failed != 1 || rep.GivenUp != 0 || rep.Sent != 1 {
			t.Fatalf("window 1: %+v; want qa failed with nothing given up and lead sent", rep)
		}
		// Four hours after q1 occurred, 90 minutes after q2: only q1 is past the give-up age.
		if rep := runAt(4); rep.Failed != 1 || rep.GivenUp != 1 {
			t.Fatalf("window 4: %+v; want qa failed and one line given up", rep)
		}
		if n := counts.Get(telemetry.EmailLinesGivenUp, "rejected"); n != 1 {
			t.Fatalf("%s{rejected} = %d, want 1", telemetry.EmailLinesGivenUp, n)
		}
		refusing = false
		if rep := runAt(5); rep.Sent != 1 || rep.GivenUp != 0 {
			t.Fatalf("window 5: %+v; want qa's email sent", rep)
		}
		got := box.to(qa.Address)
		if len(got) != 1 || !slices.Equal(linesIn(got[0], "q1", "q2"), []string{"q2"}) {
			t.Fatalf("qa got %d emails; want one listing q2 alone", len(got))
		}
		// A line given up is kept as sent: the same event delivered again is not mailed.
		if added, err := s.AddLines(ctx, []mailbatch.Line{newMailLine(qa, "q1", 0)}); err != nil || added != 0 {
			t.Fatalf("q1 again: added %d, %v; want 0", added, err)
		}
		if rep := runAt(6); rep.Sent != 0 || box.total() != 2 {
			t.Fatalf("window 6: %+v, %d emails in all; want nothing more", rep, box.total())
		}
	})

	t.Run("a line is given up by when it was stored, not by when its event occurred", func(t *testing.T) {
		s, box := newStore(t), newMailbox()
		box.fail = func(string, int) error { return fmt.Errorf("ses says no: %w", mail.ErrRejected) }
		replayed := newMailLine(qa, "q1", 0)
		replayed.OccurredAt = mailEpoch.AddDate(-1, 0, 0)
		addLines(t, s, replayed)
		m := newMailer(s, box, at(1))
		m.GiveUpAfter = 3 * interval
		if rep := run(t, m); rep.Failed != 1 || rep.GivenUp != 0 {
			t.Fatalf("report %+v; want the failure and nothing given up", rep)
		}
	})

	t.Run("a recipient whose lines are all past the give-up age is no longer pending", func(t *testing.T) {
		s, box := newStore(t), newMailbox()
		box.fail = func(string, int) error { return fmt.Errorf("ses says no: %w", mail.ErrRejected) }
		addLines(t, s, newMailLine(qa, "q1", 0), newMailLine(qa, "q2", 10))
		m := newMailer(s, box, at(5))
		m.GiveUpAfter = 3 * interval
		if rep := run(t, m); rep.GivenUp != 2 {
			t.Fatalf("report %+v; want both lines given up", rep)
		}
		for r, err := range s.PendingRecipients(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			t.Fatalf("%+v still pending", r)
		}
	})

	t.Run("a throttled send backs off and goes out once", func(t *testing.T) {
		s, box := newStore(t), newMailbox()
		box.fail = func(_ string, try int) error {
			if try == 1 {
				return fmt.Errorf("slow down: %w", mail.ErrThrottled)
			}
			return nil
		}
		addLines(t, s, newMailLine(qa, "q1", 0))
		if rep := run(t, newMailer(s, box, at(0))); rep.Sent != 1 || len(box.to(qa.Address)) != 1 {
			t.Fatalf("report %+v, %d emails", rep, len(box.to(qa.Address)))
		}
	})

	t.Run("more lines than one email holds go out over the next windows, none twice", func(t *testing.T) {
		s, box := newStore(t), newMailbox()
		var ids []string
		for i := range 5 {
			id := fmt.Sprintf("q%d", i)
			ids = append(ids, id)
			addLines(t, s, newMailLine(qa, id, i))
		}
		for w := range 3 {
			m := newMailer(s, box, at(w))
			m.MaxLines = 3
			run(t, m)
		}
		got := box.to(qa.Address)
		if len(got) != 2 || len(linesIn(got[0], ids...)) != 3 || len(linesIn(got[1], ids...)) != 2 {
			t.Fatalf("%d emails; want 3 lines then 2", len(got))
		}
		if first, second := linesIn(got[0], ids...), linesIn(got[1], ids...); slices.ContainsFunc(first, func(id string) bool { return slices.Contains(second, id) }) {
			t.Fatalf("a line went out twice: %v then %v", first, second)
		}
	})

	t.Run("a run that reaches its deadline leaves the rest to the next one, sending none twice", func(t *testing.T) {
		s, box := newStore(t), newMailbox()
		box.delay = 40 * time.Millisecond
		const recipients = 30
		for i := range recipients {
			addLines(t, s, newMailLine(mailbatch.Recipient{TenantID: "tenant-a", Address: fmt.Sprintf("r%02d@example.com", i)}, "x", 0))
		}
		// The deadline is checked on the real clock, as Lambda's is; the window is an hour
		// long, so the run's window does not change under it.
		start := time.Now()
		m := newMailer(s, box, time.Now)
		m.Workers, m.Reserve = 1, time.Second
		short, cancel := context.WithDeadline(ctx, start.Add(m.Reserve+300*time.Millisecond))
		defer cancel()
		first, err := m.Run(short)
		if err != nil {
			t.Fatal(err)
		}
		if !first.Stopped || first.Sent == 0 || first.Sent >= recipients {
			t.Fatalf("first run %+v; want it stopped part-way", first)
		}
		next := newMailer(s, box, func() time.Time { return time.Now().Add(interval) })
		second := run(t, next)
		if first.Sent+second.Sent != recipients || box.total() != recipients {
			t.Fatalf("runs sent %d + %d, mailbox has %d; want %d", first.Sent, second.Sent, box.total(), recipients)
		}
		for i := range recipients {
			if n := len(box.to(fmt.Sprintf("r%02d@example.com", i))); n != 1 {
				t.Fatalf("r%02d got %d emails", i, n)
			}
		}
	})
}
