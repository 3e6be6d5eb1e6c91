package delivery_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
)

func TestDefaultScheduleIsSvixLike(t *testing.T) {
	t.Parallel()
	s, err := delivery.ParseSchedule(delivery.DefaultSchedule)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	if len(s) != len(want) || s.MaxAttempts() != 8 {
		t.Fatalf("schedule %v (%d attempts), want %v (8 attempts)", s, s.MaxAttempts(), want)
	}
	for i, d := range want {
		if s[i] != d {
			t.Fatalf("schedule %v, want %v", s, want)
		}
	}
	if _, ok := s.Wait(8); ok {
		t.Fatal("a wait after the last attempt")
	}
	if _, _, ok := s.WaitRange(8); ok {
		t.Fatal("a wait range after the last attempt")
	}
}

// The README promises at least 24 h of retries and documents ±10 % jitter; SQS keeps a received
// message hidden at most 12 h from its receive, some of which the attempt itself has used. The
// bounds come from the jitter rule (WaitRange), not from sampling, so an unlucky draw cannot
// hide a schedule that falls short.
func TestDefaultScheduleSpansADayWithinVisibility(t *testing.T) {
	t.Parallel()
	s, err := delivery.ParseSchedule(delivery.DefaultSchedule)
	if err != nil {
		t.Fatal(err)
	}
	// An attempt takes up to DefaultAttemptTimeout and the batch's bookkeeping follows before
	// the wait is set; half an hour is a generous allowance for both and for clock skew.
	const visibilityAllowance = 30 * time.Minute
	var shortestSpan, longestSpan, longestWait time.Duration
	for attempt := 1; attempt <= len(s); attempt++ {
		shortest, longest, ok := s.WaitRange(attempt)
		if !ok {
			t.Fatalf("no wait range after attempt %d", attempt)
		}
		lo, hi := documentedBounds(s[attempt-1])
		if shortest < lo-time.Microsecond || longest > hi+time.Microsecond || shortest > longest {
			t.Errorf("wait range after attempt %d is %s to %s, want within %s to %s (±10 %%)", attempt, shortest, longest, lo, hi)
		}
		shortestSpan += shortest
		longestSpan += longest
		longestWait = max(longestWait, longest)
	}
	t.Logf("first to last attempt: %s to %s; longest wait %s", shortestSpan, longestSpan, longestWait)
	if shortestSpan < 24*time.Hour {
		t.Errorf("with every wait jittered down the retries end after %s, want at least 24h", shortestSpan)
	}
	if limit := delivery.MaxVisibility - visibilityAllowance; longestWait > limit {
		t.Errorf("longest jittered wait %s leaves less than %s of SQS's %s visibility, counted from the receive", longestWait, visibilityAllowance, delivery.MaxVisibility)
	}
}

// documentedBounds is the README's ±10 %, in whole nanoseconds.
func documentedBounds(base time.Duration) (lo, hi time.Duration) {
	return base - base/10, base + base/10
}

func TestWaitStaysWithinDocumentedBounds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		schedule string
	}{
		{"default", delivery.DefaultSchedule},
		{"short, for development", "1s,5s,30s"},
		// 12 h +10 % would pass SQS's limit: the range is cut at MaxWait.
		{"longest allowed entry", "12h,11h59m"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := delivery.ParseSchedule(tc.schedule)
			if err != nil {
				t.Fatal(err)
			}
			for attempt := 1; attempt <= len(s); attempt++ {
				shortest, longest, _ := s.WaitRange(attempt)
				lo, hi := documentedBounds(s[attempt-1])
				hi = min(hi, delivery.MaxWait)
				lowest, highest := longest, shortest
				for range 2000 {
					w, ok := s.Wait(attempt)
					if !ok || w < shortest || w > longest || w < lo-time.Microsecond || w > hi+time.Microsecond || w > delivery.MaxWait {
						t.Fatalf("wait after attempt %d = %s (ok %v), want within its range %s to %s and within %s to %s (%s ±10 %%, at most %s)",
							attempt, w, ok, shortest, longest, lo, hi, s[attempt-1], delivery.MaxWait)
					}
					lowest, highest = min(lowest, w), max(highest, w)
				}
				// 2000 uniform draws all missing the bottom or top twentieth of the range has
				// a probability of 0.95^2000, about 1e-45: a miss means the jitter is skewed.
				if span := longest - shortest; lowest > shortest+span/20 || highest < longest-span/20 {
					t.Errorf("waits after attempt %d ranged %s to %s, want close to both ends of %s to %s", attempt, lowest, highest, shortest, longest)
				}
			}
		})
	}
}

func TestScheduleJitterSpreads(t *testing.T) {
	t.Parallel()
	s, _ := delivery.ParseSchedule("5m")
	seen := map[time.Duration]bool{}
	for range 20 {
		w, _ := s.Wait(1)
		seen[w] = true
	}
	if len(seen) < 10 {
		t.Fatalf("20 waits took only %d distinct values: no jitter", len(seen))
	}
}

func TestParseScheduleRejectsNonsense(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "5", "5s,,5m", "-1s", "0s", "13h", "5 minutes"} {
		if _, err := delivery.ParseSchedule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
