package plugins

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseRate reads a tc-style rate ("500kbit", "1mbit", "2mbps", "100bps")
// and returns bytes per second: one reading for every fault that shapes
// bandwidth (latency, network).
func ParseRate(s string) (int64, error) {
	units := []struct {
		suffix string
		bytes  float64
	}{
		{"gbit", 1e9 / 8}, {"mbit", 1e6 / 8}, {"kbit", 1e3 / 8}, {"bit", 1.0 / 8},
		{"gbps", 1e9}, {"mbps", 1e6}, {"kbps", 1e3}, {"bps", 1},
	}
	l := strings.ToLower(strings.TrimSpace(s))
	for _, u := range units {
		if num, ok := strings.CutSuffix(l, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v <= 0 {
				break
			}
			b := int64(v * u.bytes)
			if b < 1 {
				return 0, fmt.Errorf("rate %q is below 1 byte/s", s)
			}
			return b, nil
		}
	}
	return 0, fmt.Errorf("rate %q: want a number and a unit (bit, kbit, mbit, gbit, bps, kbps, mbps, gbps), e.g. \"1mbit\"", s)
}
