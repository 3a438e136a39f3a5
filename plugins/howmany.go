package plugins

import "math"

// HowMany is the part of a fault's target table that says how many of the
// matches it hits: every plugin that selects among many (containers, pods,
// nodes) reads it the same way.
type HowMany struct {
	Count   int     // at most this many; 0: no limit
	Percent float64 // this percent, rounded up; 0: no limit
	Random  bool    // pick at random rather than the first by name
	All     bool
}

// HowManyParams is the schema of those keys.
var HowManyParams = []Param{
	{Name: "count", Type: TypeInt, Min: new(1.0), Doc: "hit at most this many of the matches"},
	{Name: "percent", Type: TypeFloat, Min: new(0.001), Max: new(100.0), Doc: "hit this percent of the matches, rounded up"},
	{Name: "random", Type: TypeBool, Doc: "pick the count/percent at random (default: first by name)"},
	{Name: "all", Type: TypeBool, Doc: "hit every match (the default when neither count nor percent is set)"},
}

// ParseHowMany reads count, percent, random and all from a target table;
// each problem is a *ValidationError naming its key.
func ParseHowMany(sel Params) (HowMany, []error) {
	var h HowMany
	var errs []error
	bad := func(field, msg string) { errs = append(errs, &ValidationError{Field: "target." + field, Msg: msg}) }
	if v, ok := sel["count"]; ok {
		c, ok := v.(int64)
		if !ok || c < 1 {
			bad("count", "must be an integer >= 1")
		}
		h.Count = int(c)
	}
	if v, ok := sel["percent"]; ok {
		p, ok := v.(float64)
		if iv, isInt := v.(int64); isInt {
			p, ok = float64(iv), true
		}
		if !ok || p <= 0 || p > 100 {
			bad("percent", "must be a number in (0, 100]")
		}
		h.Percent = p
	}
	if v, ok := sel["random"]; ok {
		h.Random, _ = v.(bool)
	}
	if v, ok := sel["all"]; ok {
		h.All, _ = v.(bool)
	}
	set := 0
	for _, b := range []bool{h.Count > 0, h.Percent > 0, h.All} {
		if b {
			set++
		}
	}
	if set > 1 {
		errs = append(errs, &ValidationError{Field: "target", Msg: "give at most one of count, percent, all"})
	}
	return h, errs
}

// Of is how many of n matches are hit.
func (h HowMany) Of(n int) int {
	switch {
	case h.Count > 0:
		return min(n, h.Count)
	case h.Percent > 0:
		return min(n, int(math.Ceil(float64(n)*h.Percent/100)))
	}
	return n
}
