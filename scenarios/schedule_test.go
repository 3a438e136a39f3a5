package scenarios

import (
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	from := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC) // a Monday
	for _, tc := range []struct {
		spec string
		next time.Time
	}{
		{"0 10 * * 2", time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)},
		{"30 0 10 * * 2", time.Date(2025, 3, 4, 10, 0, 30, 0, time.UTC)},
		{"@every 90s", from.Add(90 * time.Second)},
		{"@daily", time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC)},
	} {
		s, err := ParseSchedule(tc.spec)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if got := s.Next(from); !got.Equal(tc.next) {
			t.Errorf("%q: next %v, want %v", tc.spec, got, tc.next)
		}
	}
	for _, bad := range []string{"", "every tuesday", "* * *", "61 * * * *", "@weekly-ish"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestWindow(t *testing.T) {
	at := func(day, hh, mm int) time.Time { return time.Date(2025, 3, 2+day, hh, mm, 0, 0, time.UTC) } // day 0: Sunday
	for _, tc := range []struct {
		spec string
		t    time.Time
		in   bool
	}{
		{"Tue 10:00-12:00", at(2, 10, 0), true},
		{"Tue 10:00-12:00", at(2, 11, 59), true},
		{"Tue 10:00-12:00", at(2, 12, 0), false},
		{"Tue 10:00-12:00", at(3, 10, 30), false},
		{"Mon-Fri 09:00-17:00", at(5, 9, 0), true},
		{"Mon-Fri 09:00-17:00", at(6, 9, 0), false},
		{"Fri-Mon 09:00-17:00", at(0, 9, 0), true},
		{"Tue,Thu 22:00-02:00", at(2, 23, 0), true},
		{"Tue,Thu 22:00-02:00", at(3, 1, 59), true},   // Wednesday night, after Tuesday's start
		{"Tue,Thu 22:00-02:00", at(2, 1, 0), false},   // Tuesday early morning: Monday's window
		{"Tue,Thu 22:00-02:00", at(3, 22, 30), false}, // Wednesday
		{"03:00-04:00", at(6, 3, 30), true},
		{"23:00-24:00", at(1, 23, 59), true},
	} {
		w, err := ParseWindow(tc.spec)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if got := w.Contains(tc.t); got != tc.in {
			t.Errorf("%q contains %s: %v, want %v", tc.spec, tc.t.Format("Mon 15:04"), got, tc.in)
		}
	}
	for _, bad := range []string{"Tuesday 10:00-12:00", "10-12", "Tue 10:00", "Tue 10:00-10:00", "Tue 25:00-26:00", "Tue 10:60-11:00", "Tue Wed 10:00-11:00", "Tue +1:00-2:00"} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
