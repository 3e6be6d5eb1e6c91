package localscheduler

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// field describes one of the six cron fields, with the values and names of the EventBridge
// guide's table.
type field struct {
	name     string
	min, max int
	// names are the value names from min upwards (JAN-DEC, SUN-SAT).
	names []string
	// wraps allows a range that runs past max back to min: the guide's own example
	// cron(0/30 20-2 ? * MON-FRI *) runs "from 10:00 pm to 2:00 am", and FRI-MON or NOV-FEB
	// read the same way. Years do not wrap.
	wraps bool
}

var (
	fieldMinutes = field{name: "minutes", min: 0, max: 59, wraps: true}
	fieldHours   = field{name: "hours", min: 0, max: 23, wraps: true}
	fieldDOM     = field{name: "day-of-month", min: 1, max: 31, wraps: true}
	fieldMonth   = field{name: "month", min: 1, max: 12, wraps: true,
		names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}}
	fieldDOW = field{name: "day-of-week", min: 1, max: 7, wraps: true,
		names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}}
	fieldYear = field{name: "year", min: 1970, max: 2199}
)

// valueSet holds the values a field allows.
type valueSet struct {
	min int
	has []bool
}

func newSet(f field) valueSet { return valueSet{min: f.min, has: make([]bool, f.max-f.min+1)} }

func (s valueSet) contains(v int) bool {
	i := v - s.min
	return i >= 0 && i < len(s.has) && s.has[i]
}

type domMode int

const (
	domAny            domMode = iota // ?: the day-of-week field decides
	domValues                        // 1,15 / 1-15 / */2 / *
	domLast                          // L: the last day of the month
	domLastWeekday                   // LW: the last Monday-Friday of the month
	domNearestWeekday                // 15W: the Monday-Friday nearest the 15th, within the month
)

type dowMode int

const (
	dowAny    dowMode = iota // ?: the day-of-month field decides
	dowValues                // MON-FRI / 1,7 / * / L (Saturday, the last day of the week)
	dowLast                  // 6L: the last Friday of the month
	dowNth                   // 3#2: the second Tuesday of the month
)

type cronSpec struct {
	minutes, hours, months, years valueSet

	dom     domMode
	domSet  valueSet
	domDay  int // domNearestWeekday
	dow     dowMode
	dowSet  valueSet
	dowDay  int // dowLast, dowNth: 1-7 = SUN-SAT
	dowNthN int // dowNth: 1-5
}

// parseCron reads the six fields. The day fields follow the guide's limits: one of them must be
// ?, L and W belong to day-of-month (L also to day-of-week), # to day-of-week and only as the
// field's sole expression ("3#1,6#3 is not valid").
func parseCron(inner string) (*cronSpec, error) {
	f := strings.Fields(inner)
	switch {
	case len(f) == 5:
		return nil, fmt.Errorf("5 fields, but AWS cron takes 6 (minutes hours day-of-month month day-of-week year): the year is required, e.g. add *")
	case len(f) == 7:
		return nil, fmt.Errorf("7 fields, but AWS cron takes 6 (minutes hours day-of-month month day-of-week year) and has no seconds field")
	case len(f) != 6:
		return nil, fmt.Errorf("%d fields, but AWS cron takes 6 (minutes hours day-of-month month day-of-week year)", len(f))
	}
	c := &cronSpec{}
	var err error
	if c.minutes, err = parsePlain(fieldMinutes, f[0]); err != nil {
		return nil, err
	}
	if c.hours, err = parsePlain(fieldHours, f[1]); err != nil {
		return nil, err
	}
	if c.months, err = parsePlain(fieldMonth, f[3]); err != nil {
		return nil, err
	}
	if c.years, err = parsePlain(fieldYear, f[5]); err != nil {
		return nil, err
	}
	dom, dow := f[2], f[4]
	switch {
	case dom == "?" && dow == "?":
		return nil, fmt.Errorf("day-of-month and day-of-week are both ?: one of them must name the days")
	case dom != "?" && dow != "?":
		return nil, fmt.Errorf("day-of-month (%s) and day-of-week (%s) are both set: one of them must be ?", dom, dow)
	}
	if err := c.parseDOM(dom); err != nil {
		return nil, err
	}
	if err := c.parseDOW(dow); err != nil {
		return nil, err
	}
	return c, nil
}

// parsePlain reads a field that takes only , - * / (minutes, hours, month, year).
func parsePlain(f field, s string) (valueSet, error) {
	switch {
	case strings.Contains(s, "?"):
		return valueSet{}, fmt.Errorf("%s %q: ? is only allowed in day-of-month or day-of-week", f.name, s)
	case strings.Contains(s, "#"):
		return valueSet{}, fmt.Errorf("%s %q: # is only allowed in day-of-week", f.name, s)
	}
	return parseList(f, s)
}

func (c *cronSpec) parseDOM(s string) error {
	switch {
	case s == "?":
		c.dom = domAny
		return nil
	case s == "L":
		c.dom = domLast
		return nil
	case s == "LW":
		c.dom = domLastWeekday
		return nil
	case strings.HasSuffix(s, "W"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "W"))
		if err != nil || n < fieldDOM.min || n > fieldDOM.max {
			return fmt.Errorf("day-of-month %q: W follows one day, 1-31 (e.g. 15W), or L (LW)", s)
		}
		c.dom, c.domDay = domNearestWeekday, n
		return nil
	case strings.ContainsAny(s, "LW"):
		return fmt.Errorf("day-of-month %q: L and W stand alone (L, LW or a day and W such as 15W), not in lists or ranges", s)
	case strings.Contains(s, "#"):
		return fmt.Errorf("day-of-month %q: # is only allowed in day-of-week", s)
	}
	set, err := parseList(fieldDOM, s)
	if err != nil {
		return err
	}
	c.dom, c.domSet = domValues, set
	return nil
}

func (c *cronSpec) parseDOW(s string) error {
	switch {
	case s == "?":
		c.dow = dowAny
		return nil
	case s == "L":
		// "The L wildcard in the ... Day-of-week field specifies the last day of the week":
		// Saturday, day 7.
		c.dow, c.dowSet = dowValues, newSet(fieldDOW)
		c.dowSet.has[7-fieldDOW.min] = true
		return nil
	case strings.Contains(s, "#"):
		if strings.Contains(s, ",") {
			return fmt.Errorf("day-of-week %q: with # the field holds one expression only (3#1,6#3 is two)", s)
		}
		day, nth, _ := strings.Cut(s, "#")
		d, err := value(fieldDOW, day)
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(nth)
		if err != nil || n < 1 || n > 5 {
			return fmt.Errorf("day-of-week %q: the number after # is the week of the month, 1-5", s)
		}
		c.dow, c.dowDay, c.dowNthN = dowNth, d, n
		return nil
	case strings.HasSuffix(s, "L"):
		d, err := value(fieldDOW, strings.TrimSuffix(s, "L"))
		if err != nil || strings.ContainsAny(s, ",-*/") {
			return fmt.Errorf("day-of-week %q: L stands alone (Saturday) or follows one day (6L or FRIL, the last Friday of the month)", s)
		}
		c.dow, c.dowDay = dowLast, d
		return nil
	case strings.Contains(s, "L"):
		return fmt.Errorf("day-of-week %q: L stands alone or follows one day (6L)", s)
	}
	set, err := parseList(fieldDOW, s)
	if err != nil {
		// WED has a W; 3W does not name a day.
		if strings.ContainsAny(strings.TrimRight(s, "W"), "0123456789") && strings.HasSuffix(s, "W") {
			return fmt.Errorf("day-of-week %q: W is only allowed in day-of-month", s)
		}
		return err
	}
	c.dow, c.dowSet = dowValues, set
	return nil
}

// parseList reads comma-separated items, each *, a value, a range a-b, or any of those with a
// /step (a/step runs from a to the field's end, as in the guide's 1/10 = 1, 11, 21, ...).
func parseList(f field, s string) (valueSet, error) {
	set := newSet(f)
	for item := range strings.SplitSeq(s, ",") {
		if err := addItem(f, &set, item); err != nil {
			return valueSet{}, fmt.Errorf("%s %q: %w", f.name, s, err)
		}
	}
	return set, nil
}

func addItem(f field, set *valueSet, item string) error {
	if item == "" {
		return fmt.Errorf("empty item")
	}
	base, stepText, hasStep := strings.Cut(item, "/")
	size := f.max - f.min + 1
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepText)
		if err != nil || n < 1 {
			return fmt.Errorf("step %q must be a positive whole number", stepText)
		}
		if n > size {
			return fmt.Errorf("step %d is larger than the field's %d values", n, size)
		}
		step = n
	}
	var lo, hi int
	var err error
	switch {
	case base == "*":
		lo, hi = f.min, f.max
	case strings.Contains(base, "-"):
		a, b, _ := strings.Cut(base, "-")
		if lo, err = value(f, a); err != nil {
			return err
		}
		if hi, err = value(f, b); err != nil {
			return err
		}
		if hi < lo && !f.wraps {
			return fmt.Errorf("range %s runs backwards", base)
		}
	default:
		if lo, err = value(f, base); err != nil {
			return err
		}
		hi = lo
		if hasStep {
			hi = f.max
		}
	}
	span := hi - lo
	if span < 0 {
		span += size
	}
	for i := 0; i <= span; i += step {
		set.has[(lo-f.min+i)%size] = true
	}
	return nil
}

// value reads one value: a number in the field's range or, for month and day-of-week, a name.
func value(f field, tok string) (int, error) {
	if tok == "" {
		return 0, fmt.Errorf("missing value")
	}
	if n, err := strconv.Atoi(tok); err == nil && strings.TrimLeft(tok, "0123456789") == "" {
		if n < f.min || n > f.max {
			if f.names != nil {
				return 0, fmt.Errorf("%d is out of range: %s runs %d-%d (%s-%s)", n, f.name, f.min, f.max, f.names[0], f.names[len(f.names)-1])
			}
			return 0, fmt.Errorf("%d is out of range: %s runs %d-%d", n, f.name, f.min, f.max)
		}
		return n, nil
	}
	for i, name := range f.names {
		if strings.EqualFold(tok, name) {
			return f.min + i, nil
		}
	}
	return 0, fmt.Errorf("unknown %s value %q", f.name, tok)
}

// next is Expression.Next for cron: walk the wall-clock minutes of loc that match, and return
// the first that exists and comes after `after`, at its first occurrence.
func (c *cronSpec) next(after time.Time, loc *time.Location) (time.Time, bool) {
	cur := civilOf(after.In(loc))
	cur.second = 0
	for {
		m, ok := c.match(cur)
		if !ok {
			return time.Time{}, false
		}
		// Wall-clock order is instant order for first occurrences, so the first match that
		// resolves after `after` is the answer; earlier ones are before it or in a gap.
		if t, ok := m.resolve(loc); ok && t.After(after) {
			return t, true
		}
		cur = m.nextMinute()
	}
}

// match returns the first wall-clock minute at or after cur that the fields allow, jumping a
// whole year, month, day or hour when that field rules it out (a few thousand steps at most
// until 2199).
func (c *cronSpec) match(cur civil) (civil, bool) {
	for {
		if cur.year < fieldYear.min {
			cur = civil{year: fieldYear.min, month: 1, day: 1}
		}
		if cur.year > fieldYear.max {
			return civil{}, false
		}
		switch {
		case !c.years.contains(cur.year):
			cur = civil{year: cur.year + 1, month: 1, day: 1}
		case !c.months.contains(cur.month):
			cur = cur.nextMonth()
		case !c.dayMatches(cur.year, cur.month, cur.day):
			cur = cur.nextDay()
		case !c.hours.contains(cur.hour):
			cur = cur.nextHour()
		case !c.minutes.contains(cur.minute):
			cur = cur.nextMinute()
		default:
			return cur, true
		}
	}
}

func (c *cronSpec) dayMatches(year, month, day int) bool {
	dim := daysIn(year, month)
	switch c.dom {
	case domValues:
		return c.domSet.contains(day)
	case domLast:
		return day == dim
	case domLastWeekday:
		last := dim
		switch weekday(year, month, dim) {
		case time.Saturday:
			last = dim - 1
		case time.Sunday:
			last = dim - 2
		}
		return day == last
	case domNearestWeekday:
		// Quartz's rule, which the guide's "3W: the weekday closest to the third day of the
		// month" follows: a Saturday moves to Friday and a Sunday to Monday, never out of the
		// month (1W on a Saturday is Monday the 3rd). A day the month lacks (31W in April)
		// does not fire that month.
		n := c.domDay
		if n > dim {
			return false
		}
		target := n
		switch weekday(year, month, n) {
		case time.Saturday:
			if n == 1 {
				target = 3
			} else {
				target = n - 1
			}
		case time.Sunday:
			if n == dim {
				target = n - 2
			} else {
				target = n + 1
			}
		}
		return day == target
	}
	d := int(weekday(year, month, day)) + 1 // 1-7 = SUN-SAT
	switch c.dow {
	case dowValues:
		return c.dowSet.contains(d)
	case dowLast:
		return d == c.dowDay && day+7 > dim
	case dowNth:
		return d == c.dowDay && (day-1)/7+1 == c.dowNthN
	}
	return false
}

func (c civil) nextMonth() civil {
	if c.month == 12 {
		return civil{year: c.year + 1, month: 1, day: 1}
	}
	return civil{year: c.year, month: c.month + 1, day: 1}
}

func (c civil) nextDay() civil {
	if c.day >= daysIn(c.year, c.month) {
		return c.nextMonth()
	}
	return civil{year: c.year, month: c.month, day: c.day + 1}
}

func (c civil) nextHour() civil {
	if c.hour == 23 {
		return c.nextDay()
	}
	return civil{year: c.year, month: c.month, day: c.day, hour: c.hour + 1}
}

func (c civil) nextMinute() civil {
	if c.minute == 59 {
		return c.nextHour()
	}
	c.minute++
	c.second = 0
	return c
}
