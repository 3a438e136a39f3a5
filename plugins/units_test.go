package plugins

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"1mbit": 125000, "8kbit": 1000, "2mbps": 2000000, "100bps": 100, "1.5Mbit": 187500} {
		got, err := ParseRate(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "mbit", "-1mbit", "10", "1bit"} {
		_, err := ParseRate(in)
		assert.Error(t, err, in)
	}
}
