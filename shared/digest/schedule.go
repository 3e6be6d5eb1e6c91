package digest

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/heraldhq/herald/shared/notifications"
)

// NextAt returns the first instant after `after` at which the wall clock of loc reads
// hour:minute. Daylight-saving changes fire each time of day once a day: a time that does not
// exist that day (the clock jumps over it) fires at the first instant after the jump, and a
// time that happens twice (the clock goes back) fires the first time only.
func NextAt(hour, minute int, loc *time.Location, after time.Time) time.Time {
	y, m, d := after.In(loc).Date()
	// The day before covers an `after` late in a day whose time of day, read in UTC, is
	// still ahead; three days ahead cover any day that has no such time at all.
	for day := d - 1; day <= d+3; day++ {
		if t := onDay(y, m, day, hour, minute, loc); t.After(after) {
			return t
		}
	}
	panic(fmt.Sprintf("digest: no %02d:%02d in %s within four days of %v", hour, minute, loc, after))
}

// onDay resolves hour:minute on one calendar day of loc (day may overflow the month, as in
// time.Date). time.Date does not promise which instant it picks for a time in a gap or an
// overlap, hence the explicit resolution: the wall clock read with each UTC offset loc uses
// around that day, kept when loc reads it back the same.
func onDay(y int, m time.Month, day, hour, minute int, loc *time.Location) time.Time {
	wall := time.Date(y, m, day, hour, minute, 0, 0, time.UTC)
	var first time.Time
	var offsets []int
	for _, probe := range []time.Time{wall.Add(-26 * time.Hour), wall, wall.Add(26 * time.Hour)} {
		_, off := probe.In(loc).Zone()
		offsets = append(offsets, off)
		t := wall.Add(-time.Duration(off) * time.Second)
		if readsAs(t.In(loc), wall) && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	if !first.IsZero() {
		return first
	}
	// A gap: read with the offset before the jump, the wall clock lands after it; the zone
	// then in force began at the jump, the first instant after the missing time.
	t := wall.Add(-time.Duration(offsets[0]) * time.Second)
	start, _ := t.In(loc).ZoneBounds()
	return start
}

func readsAs(local, wall time.Time) bool {
	y1, m1, d1 := local.Date()
	y2, m2, d2 := wall.Date()
	return y1 == y2 && m1 == m2 && d1 == d2 && local.Hour() == wall.Hour() && local.Minute() == wall.Minute()
}

// ParseTimeOfDay reads "HH:MM" (00:00 to 23:59).
func ParseTimeOfDay(s string) (hour, minute int, err error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, 0, fmt.Errorf("time of day %q is not HH:MM", s)
	}
	return t.Hour(), t.Minute(), nil
}

// Schedule is when a notification's digests are next due: one entry per slot (a time of day
// of one digest trigger), and the earliest of them, which the store indexes so that a run
// finds every due notification with one Query.
type Schedule struct {
	TenantID       string
	NotificationID string
	NextDue        time.Time
	// Slots maps SlotKey to the slot's next due instant.
	Slots map[string]time.Time
	// Revision counts the schedule's writes by PutSchedule (edits of the notification): a
	// run's Advance applies only to the revision it claimed, so an edit made during a run is
	// merged, not overwritten.
	Revision int64
	// LeaseOwner is the run that holds the schedule, as GetSchedule read it; empty when none.
	LeaseOwner string
}

// ScheduleStore keeps the schedules of notifications with digests.
type ScheduleStore interface {
	// GetSchedule reads one schedule; found is false when the notification has none.
	GetSchedule(ctx context.Context, tenant, notificationID string) (s Schedule, found bool, err error)
	// PutSchedule writes a schedule's slots and NextDue and bumps its Revision, leaving a
	// run's lease alone; a schedule without slots is deleted.
	PutSchedule(ctx context.Context, s Schedule) error
	// DeleteSchedule removes a notification's schedule.
	DeleteSchedule(ctx context.Context, tenant, notificationID string) error
	// Due yields every schedule whose NextDue is at or before now, a page at a time.
	Due(ctx context.Context, now time.Time) iter.Seq2[Schedule, error]
	// Claim leases s to owner until `until`: ok only while its NextDue is still s.NextDue and
	// no other owner's lease runs past now. claimed is the schedule as the claim found it,
	// read consistently (Due may read an index that lags).
	Claim(ctx context.Context, s Schedule, owner string, now, until time.Time) (claimed Schedule, ok bool, err error)
	// Advance writes s's slots and NextDue and ends owner's lease, if owner still holds it
	// and the schedule is still at s.Revision; ok is false otherwise: the lease was lost (ran
	// out and was taken), or the notification was edited meanwhile (see Merge).
	Advance(ctx context.Context, s Schedule, owner string) (ok bool, err error)
}

// SlotKey names one time of day of one digest trigger; it stays the same while the trigger
// does, so editing a notification's other fields keeps its digests' due times.
func SlotKey(d notifications.Digest, timeOfDay string) string {
	period := d.Period
	if period == 0 {
		period = notifications.DefaultDigestPeriod
	}
	return fmt.Sprintf("%s %s %s %t", d.TimeZone, timeOfDay, period, d.SkipEmpty)
}

// Slot is one time of day of one of a notification's digest triggers.
type Slot struct {
	Key    string
	Digest notifications.Digest
	Hour   int
	Minute int
	Loc    *time.Location
}

// Period is the span the slot's digest covers.
func (s Slot) Period() time.Duration {
	if s.Digest.Period == 0 {
		return notifications.DefaultDigestPeriod
	}
	return s.Digest.Period
}

// SlotsOf lists a notification's slots; a time of day named twice is one slot.
func SlotsOf(n notifications.Notification) ([]Slot, error) {
	var out []Slot
	seen := map[string]bool{}
	for _, d := range n.Triggers.Digests {
		loc, err := time.LoadLocation(d.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("digest time zone %q: %w", d.TimeZone, err)
		}
		for _, tod := range d.TimesOfDay {
			h, m, err := ParseTimeOfDay(tod)
			if err != nil {
				return nil, err
			}
			key := SlotKey(d, tod)
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, Slot{Key: key, Digest: d, Hour: h, Minute: m, Loc: loc})
		}
	}
	return out, nil
}

// Plan is n's schedule as of now: a slot it had keeps its next due instant, a new slot is
// next due at its first time of day after now, and slots n no longer has are dropped.
func Plan(n notifications.Notification, prev Schedule, now time.Time) (Schedule, error) {
	slots, err := SlotsOf(n)
	if err != nil {
		return Schedule{}, err
	}
	return PlanSlots(n, slots, prev, now), nil
}

// PlanSlots is Plan over n's slots, already read with SlotsOf.
func PlanSlots(n notifications.Notification, slots []Slot, prev Schedule, now time.Time) Schedule {
	s := Schedule{TenantID: n.TenantID, NotificationID: n.ID, Slots: map[string]time.Time{}}
	for _, sl := range slots {
		next, ok := prev.Slots[sl.Key]
		if !ok {
			next = NextAt(sl.Hour, sl.Minute, sl.Loc, now)
		}
		s.Slots[sl.Key] = next
	}
	s.NextDue = Earliest(s.Slots)
	return s
}

// Earliest is the first of the slots' due instants; zero when there are none.
func Earliest(slots map[string]time.Time) time.Time {
	var first time.Time
	for _, t := range slots {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first
}

// Merge carries a run's progress into a schedule an edit rewrote while the run held it: each
// slot the run moved on from sent (slot key to the due time it sent) moves on in latest to
// the run's next due time, if the edit kept the slot at that due time; the edit's other slots
// (added, removed, changed) stand.
func Merge(latest, run Schedule, sent map[string]time.Time) Schedule {
	out := latest
	out.Slots = make(map[string]time.Time, len(latest.Slots))
	for k, t := range latest.Slots {
		if was, ok := sent[k]; ok && t.Equal(was) {
			t = run.Slots[k]
		}
		out.Slots[k] = t
	}
	out.NextDue = Earliest(out.Slots)
	return out
}
