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
		{Probe: "prom", Time: t0, Latency: time.Millisecond, Err: "prometheus unreachable: connection refused", Unmeasured: true},
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

func TestAdoptSampleLog(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	write := func(path string, n int, every time.Duration) {
		l, err := CreateSampleLog(path)
		require.NoError(t, err)
		for i := range n {
			require.NoError(t, l.Record(probes.Sample{Probe: "api", Time: t0.Add(time.Duration(i) * every), OK: i%7 != 0, Latency: 10 * time.Millisecond}))
		}
		require.NoError(t, l.Close())
	}
	logPath := SampleLogBeside(filepath.Join(dir, "run.json"))
	require.Equal(t, filepath.Join(dir, "run.samples.jsonl"), logPath)
	write(logPath, 3, time.Second)
	long := filepath.Join(dir, "long.samples.jsonl")
	write(long, MaxWholeSamples+1, 10*time.Millisecond)
	made := t0.Add(time.Hour) // when recover made the journal up
	lastEnd := t0.Add(2*time.Second + 10*time.Millisecond)

	tests := []struct {
		name        string
		j           Journal
		path        string
		wantLog     string
		wantTotal   int
		wantKept    int // samples in the journal; -1: thinned
		wantStart   time.Time
		wantEnd     time.Time
		wantThinned bool
	}{
		{"made up after the death", Journal{StartedAt: made, EndedAt: made}, logPath, logPath, 3, 3, t0, made, false},
		{"started before its samples", Journal{StartedAt: t0.Add(-time.Minute)}, logPath, logPath, 3, 3, t0.Add(-time.Minute), lastEnd, false},
		{"a long run's, thinned", Journal{}, long, long, MaxWholeSamples + 1, -1, t0, t0.Add(MaxWholeSamples*10*time.Millisecond + 10*time.Millisecond), true},
		{"no log", Journal{StartedAt: made, EndedAt: made}, filepath.Join(dir, "none.jsonl"), "", 0, 0, made, made, false},
		{"names its log already", Journal{SampleLog: "/other", SamplesTotal: 9, StartedAt: made, EndedAt: made}, logPath, "/other", 9, 0, made, made, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.j
			require.NoError(t, j.AdoptSampleLog(tt.path))
			assert.Equal(t, tt.wantLog, j.SampleLog)
			assert.Equal(t, tt.wantTotal, j.SamplesTotal)
			assert.True(t, tt.wantStart.Equal(j.StartedAt), "started %v, want %v", j.StartedAt, tt.wantStart)
			assert.True(t, tt.wantEnd.Equal(j.EndedAt), "ended %v, want %v", j.EndedAt, tt.wantEnd)
			if tt.wantThinned {
				assert.Positive(t, j.SampleResolution)
				assert.Less(t, len(j.Samples), 3*ThinPoints+3)
				assert.Greater(t, len(j.Samples), ThinPoints/2)
			} else {
				assert.Zero(t, j.SampleResolution)
				assert.Len(t, j.Samples, tt.wantKept)
			}
		})
	}

	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("{}\n{}\n"), 0o600))
	var j Journal
	require.ErrorIs(t, j.AdoptSampleLog(bad), ErrNotSampleLog)
	assert.Empty(t, j.SampleLog)
}
