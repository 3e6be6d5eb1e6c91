package delivery

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Schedule is the wait before each retry: Schedule[0] after the first attempt fails, and so on.
// A job gets len(Schedule)+1 attempts in all. It is data so operators can change it without a
// release.
type Schedule []time.Duration

// DefaultSchedule follows the schedule Svix publishes: an immediate attempt, then retries after
// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, 27 h 35 min in all before jitter, long enough to
// ride out a receiver's overnight outage. With the jitter below the last attempt comes between
// 24 h 50 min and 30 h 21 min after the first, so the README's "at least 24 h" holds even when
// every wait is jittered down.
const DefaultSchedule = "5s,5m,30m,2h,5h,10h,10h"

// MaxWait bounds one retry's wait, a schedule entry or a receiver's Retry-After: SQS's
// MaxVisibility, so that a retry, sent with the queue's 15-minute delay, needs at most one park
// to reach its time.
const MaxWait = MaxVisibility

// ParseSchedule reads a comma-separated list of Go durations.
func ParseSchedule(s string) (Schedule, error) {
	var sched Schedule
	for i, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("retry schedule entry %d %q: %w", i+1, part, err)
		}
		if d <= 0 || d > MaxWait {
			return nil, fmt.Errorf("retry schedule entry %d %q: must be between 1s and %s", i+1, part, MaxWait)
		}
		sched = append(sched, d)
	}
	return sched, nil
}

// MaxAttempts is the number of attempts a job gets before it is dead-lettered.
func (s Schedule) MaxAttempts() int { return len(s) + 1 }

// jitterFraction spreads the retries of a burst of failures so that a receiver coming back up
// is not hit by every queued job in the same second. It is ±10 %, not more, because of two
// limits met at the two ends of the default schedule:
//   - every wait jittered down: 27 h 35 min × 0.9 = 24 h 49.6 min, still above the 24 h of
//     retries the README promises, so a receiver down for a whole day gets an attempt after it
//     is back (±20 % gave 22 h 4 min);
//   - its longest wait jittered up: 10 h × 1.1 = 11 h, an hour short of MaxVisibility. SQS
//     counts those 12 h from the receive, and the attempt (up to DefaultAttemptTimeout, 15 s),
//     the batch's bookkeeping and visibilityMargin (5 min) have used some of them before the
//     wait is set; +20 % gave exactly 12 h, so a received message kept for its wait would
//     come back early and be attempted early.
//
// ±10 % still spreads the jobs that failed in the same second over two hours (9 h to 11 h) at
// the end of the schedule.
const jitterFraction = 0.1

// WaitRange returns the shortest and longest wait Wait can return after attempt number
// `attempt` (1-based) failed. ok is false when no attempts are left.
func (s Schedule) WaitRange(attempt int) (shortest, longest time.Duration, ok bool) {
	if attempt < 1 || attempt > len(s) {
		return 0, 0, false
	}
	base := float64(s[attempt-1])
	longest = min(time.Duration(base*(1+jitterFraction)), MaxWait)
	shortest = min(time.Duration(base*(1-jitterFraction)), longest)
	return shortest, longest, true
}

// Wait returns how long to wait after attempt number `attempt` (1-based) failed: a uniformly
// random point of WaitRange, never outside it. ok is false when no attempts are left.
func (s Schedule) Wait(attempt int) (wait time.Duration, ok bool) {
	shortest, longest, ok := s.WaitRange(attempt)
	if !ok {
		return 0, false
	}
	return shortest + rand.N(longest-shortest+1), true
}
