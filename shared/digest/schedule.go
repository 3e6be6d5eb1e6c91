package digest

import (
	"fmt"
	"time"
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
