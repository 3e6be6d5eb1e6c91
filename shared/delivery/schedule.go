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
// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, about 28 hours in all, long enough to ride out a
// receiver's overnight outage.
const DefaultSchedule = "5s,5m,30m,2h,5h,10h,10h"

// MaxWait is the longest a message can stay invisible in SQS (12 h); a longer wait cannot be
// expressed with ChangeMessageVisibility.
const MaxWait = 12 * time.Hour

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

// jitterFraction spreads retries of a burst of failures by ±20 % so that a receiver coming
// back up is not hit by every queued job in the same second.
const jitterFraction = 0.2

// Wait returns how long to wait after attempt number `attempt` (1-based) failed, with jitter.
// ok is false when no attempts are left.
func (s Schedule) Wait(attempt int) (wait time.Duration, ok bool) {
	if attempt < 1 || attempt > len(s) {
		return 0, false
	}
	base := s[attempt-1]
	factor := 1 - jitterFraction + 2*jitterFraction*rand.Float64()
	return min(time.Duration(float64(base)*factor), MaxWait), true
}
