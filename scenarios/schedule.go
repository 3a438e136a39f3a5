package scenarios

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Concurrency policies: what the daemon does when a scenario is due while
// a run of it is still going.
const (
	ConcurrencyForbid  = "forbid"  // skip the new run (default)
	ConcurrencyAllow   = "allow"   // run both
	ConcurrencyReplace = "replace" // abort the old run (its faults reverted), start the new one
)

var scheduleParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses the `schedule` key: five cron fields (minute hour
// day-of-month month day-of-week), optionally preceded by a seconds field,
// or a descriptor such as "@daily" or "@every 1h30m".
func ParseSchedule(s string) (cron.Schedule, error) {
	sch, err := scheduleParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron schedule: %w", s, err)
	}
	return sch, nil
}

// Window is a weekly time window: days of the week and a time of day
// range, in the daemon's local time. A range whose end is not after its
// start runs past midnight; its days are the days it starts on.
type Window struct {
	Days       [7]bool // indexed by time.Weekday
	Start, End int     // minutes after midnight
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWindow parses the `window` key: "[DAYS ]HH:MM-HH:MM", where DAYS is
// a comma-separated list of days or day ranges ("Tue", "Mon-Fri",
// "Tue,Thu"); without DAYS the window applies every day.
func ParseWindow(s string) (Window, error) {
	var w Window
	fields := strings.Fields(s)
	var days, hours string
	switch len(fields) {
	case 1:
		hours = fields[0]
		for i := range w.Days {
			w.Days[i] = true
		}
	case 2:
		days, hours = fields[0], fields[1]
	default:
		return w, fmt.Errorf("%q is not a window (want \"[DAYS ]HH:MM-HH:MM\", e.g. \"Tue 10:00-12:00\")", s)
	}
	for _, part := range strings.Split(days, ",") {
		if days == "" {
			break
		}
		from, to, isRange := strings.Cut(part, "-")
		a, ok := dayNames[strings.ToLower(from)]
		if !ok {
			return w, fmt.Errorf("%q: unknown day %q (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)", s, from)
		}
		b := a
		if isRange {
			if b, ok = dayNames[strings.ToLower(to)]; !ok {
				return w, fmt.Errorf("%q: unknown day %q (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)", s, to)
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			w.Days[d] = true
			if d == b {
				break
			}
		}
	}
	from, to, ok := strings.Cut(hours, "-")
	if !ok {
		return w, fmt.Errorf("%q: want a time range HH:MM-HH:MM, got %q", s, hours)
	}
	var err error
	if w.Start, err = clock(from); err != nil {
		return w, fmt.Errorf("%q: %w", s, err)
	}
	if w.End, err = clock(to); err != nil {
		return w, fmt.Errorf("%q: %w", s, err)
	}
	if w.Start == w.End {
		return w, fmt.Errorf("%q: empty time range", s)
	}
	return w, nil
}

func clock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if strings.ContainsAny(s, "+- ") {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return hh*60 + mm, nil
}

// Contains reports whether t falls inside the window (in t's location).
func (w Window) Contains(t time.Time) bool {
	min := t.Hour()*60 + t.Minute()
	if w.Start < w.End {
		return w.Days[t.Weekday()] && min >= w.Start && min < w.End
	}
	// Past midnight: the part after the start belongs to today, the part
	// before the end to the day before.
	if min >= w.Start {
		return w.Days[t.Weekday()]
	}
	return min < w.End && w.Days[(t.Weekday()+6)%7]
}
