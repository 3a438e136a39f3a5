package scenarios

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
)

// checkParams checks values against an action's parameter (or selector)
// schema: no unknown names, required ones present, types, ranges and
// choices. It returns vals with schema defaults filled in and ints given to
// float parameters turned into float64.
func (d *decoder) checkParams(schema []plugins.Param, vals plugins.Params, path, what string) plugins.Params {
	r := d.r
	if r.underBad(path) {
		return vals
	}
	if vals == nil {
		vals = plugins.Params{}
	}
	known := make([]string, len(schema))
	for i, p := range schema {
		known[i] = p.Name
	}
	sort.Strings(known)
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !slices.Contains(known, k) {
			list := strings.Join(known, ", ")
			if list == "" {
				list = "none"
			}
			r.add(joinKey(path, k), "unknown %s (known: %s)", what, list)
		}
	}
	for _, p := range schema {
		field := joinKey(path, p.Name)
		v, ok := vals[p.Name]
		if !ok {
			switch {
			case p.Default != nil:
				vals[p.Name] = p.Default
			case p.Required:
				r.add(field, "required %s (%s)", what, p.Type)
			}
			continue
		}
		if msg := checkParam(p, v); msg != "" {
			r.add(field, "%s", msg)
			continue
		}
		if p.Type == plugins.TypeFloat {
			if n, ok := v.(int64); ok {
				vals[p.Name] = float64(n)
			}
		}
	}
	return vals
}

// checkParam returns what is wrong with v for p, or "".
func checkParam(p plugins.Param, v any) string {
	bad := func() string { return "want " + string(p.Type) + ", got " + tomlType(v) }
	switch p.Type {
	case plugins.TypeString:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		return checkEnum(p, s)
	case plugins.TypeInt:
		n, ok := v.(int64)
		if !ok {
			return bad()
		}
		return checkRange(p, float64(n))
	case plugins.TypeFloat:
		switch n := v.(type) {
		case float64:
			if math.IsNaN(n) {
				return "must be a number, got nan"
			}
			return checkRange(p, n)
		case int64:
			return checkRange(p, float64(n))
		}
		return bad()
	case plugins.TypeBool:
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case plugins.TypeDuration:
		s, ok := v.(string)
		if !ok {
			return `want a duration such as "500ms", got ` + tomlType(v)
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			return "not a duration: " + `"` + s + `"` + ` (use Go durations such as "500ms" or "2m")`
		}
		if dur < 0 {
			return "must not be negative, got " + dur.String()
		}
		return checkRange(p, dur.Seconds())
	case plugins.TypeStrings:
		list, ok := v.([]any)
		if !ok {
			return bad()
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return bad()
			}
			if msg := checkEnum(p, s); msg != "" {
				return msg
			}
		}
	case plugins.TypeTable:
		if _, ok := v.(map[string]any); !ok {
			return bad()
		}
	default:
		return "parameter has unsupported schema type " + string(p.Type)
	}
	return ""
}

func checkRange(p plugins.Param, n float64) string {
	unit := ""
	if p.Type == plugins.TypeDuration {
		unit = "s"
	}
	if p.Min != nil && n < *p.Min {
		return "must be at least " + fmtNum(*p.Min) + unit + ", got " + fmtNum(n) + unit
	}
	if p.Max != nil && n > *p.Max {
		return "must be at most " + fmtNum(*p.Max) + unit + ", got " + fmtNum(n) + unit
	}
	return ""
}

func checkEnum(p plugins.Param, s string) string {
	if len(p.Enum) == 0 || slices.Contains(p.Enum, s) {
		return ""
	}
	return "must be one of " + strings.Join(p.Enum, ", ") + `, got "` + s + `"`
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
