package journal

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosctl/chaosctl/probes"
)

func readAll(t *testing.T, path string) ([]probes.Sample, error) {
	t.Helper()
	var got []probes.Sample
	err := ReadSampleLog(path, func(s probes.Sample) error { got = append(got, s); return nil })
	return got, err
}

// What the hand-written encoder writes, encoding/json reads back as it was.
func TestSampleLogRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samples", "run.jsonl")
	l, err := CreateSampleLog(path)
	require.NoError(t, err)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.FixedZone("", 3600))
	in := []probes.Sample{
		{Probe: "api", Time: t0, OK: true, Latency: 2 * time.Millisecond, Value: 200},
		{Probe: "api", Time: t0.Add(time.Second), Latency: 5 * time.Second, Err: `dial "x": <refused> & \ gone` + "\n\t\x01 é"},
		{Probe: `odd "name"`, Time: t0.UTC(), OK: true, Value: 12.345678901234567},
		{Probe: "cpu", Time: t0, OK: true, Value: 1e300},
		{Probe: "cpu", Time: t0, OK: true, Value: -0.000001},
	}
	for _, s := range in {
		require.NoError(t, l.Record(s))
	}
	require.NoError(t, l.Close())
	got, err := readAll(t, path)
	require.NoError(t, err)
	require.Len(t, got, len(in))
	for i := range in {
		assert.True(t, in[i].Time.Equal(got[i].Time), "time %d", i)
		got[i].Time = in[i].Time
		assert.Equal(t, in[i], got[i])
	}
}

func TestSampleLogNaNValueIsLeftOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.jsonl")
	l, err := CreateSampleLog(path)
	require.NoError(t, err)
	require.NoError(t, l.Record(probes.Sample{Probe: "p", Time: time.Unix(1, 0), Value: math.NaN()}))
	require.NoError(t, l.Close())
	got, err := readAll(t, path)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Zero(t, got[0].Value)
}

// A line the runner died writing is not a sample; a bad line before the
// end is an error naming the file and line.
func TestReadSampleLogTornAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := `{"probe":"p","time":"2026-03-01T10:00:00Z","ok":true,"latency_ns":5}` + "\n"
	torn := filepath.Join(dir, "torn.jsonl")
	require.NoError(t, os.WriteFile(torn, []byte(good+good+`{"probe":"p","ti`), 0o600))
	got, err := readAll(t, torn)
	require.NoError(t, err)
	assert.Len(t, got, 2)

	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte(good+"{}\n"+good), 0o600))
	_, err = readAll(t, bad)
	require.ErrorIs(t, err, ErrNotSampleLog)
	assert.Contains(t, err.Error(), bad+":2:")

	long := filepath.Join(dir, "long.jsonl")
	e := strings.Repeat("x", 200<<10)
	require.NoError(t, os.WriteFile(long, []byte(`{"probe":"p","time":"2026-03-01T10:00:00Z","error":"`+e+`"}`+"\n"+good), 0o600))
	got, err = readAll(t, long)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, e, got[0].Err)

	stop := errors.New("stop")
	assert.ErrorIs(t, ReadSampleLog(torn, func(probes.Sample) error { return stop }), stop)
	_, err = readAll(t, filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
