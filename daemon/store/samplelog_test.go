package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosctl/chaosctl/journal"
	"github.com/chaosctl/chaosctl/probes"
)

// A pruned run's sample log goes with it, and so does a log of a run the
// store never knew; the logs of kept and running runs stay.
func TestPruneDeletesSampleLogs(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "store.db"))
	defer s.Close()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	logOf := func(id string) string {
		p, err := s.SampleLogPath(id)
		require.NoError(t, err)
		return p
	}
	for i, v := range []journal.Verdict{journal.Passed, journal.Failed, journal.Running, journal.Passed} {
		id := "run" + string(rune('a'+i))
		require.NoError(t, s.PutRun(&journal.Journal{Format: journal.FormatVersion, RunID: id, StartedAt: t0, Verdict: v}))
		l, err := s.CreateSampleLog(id)
		require.NoError(t, err)
		require.NoError(t, l.Record(probes.Sample{Probe: "p", Time: t0, OK: true}))
		require.NoError(t, l.Close())
		assert.Equal(t, logOf(id), l.Path())
	}
	orphan := filepath.Join(s.SampleLogDir(), "gone.jsonl")
	require.NoError(t, os.WriteFile(orphan, nil, 0o600))
	other := filepath.Join(s.SampleLogDir(), "README")
	require.NoError(t, os.WriteFile(other, nil, 0o600))

	n, err := s.Prune(1) // keeps rund, and runc (running)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	for id, kept := range map[string]bool{"runa": false, "runb": false, "runc": true, "rund": true} {
		_, err := os.Stat(logOf(id))
		assert.Equal(t, kept, err == nil, "%s: %v", id, err)
	}
	assert.NoFileExists(t, orphan)
	assert.FileExists(t, other, "only sample logs are swept")
}

func TestSampleLogPathRefusesIDsThatAreNotNames(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "store.db"))
	defer s.Close()
	for _, id := range []string{"", ".", "..", "a/b", `a\b`, "../x", "a\x00b"} {
		_, err := s.SampleLogPath(id)
		assert.ErrorIs(t, err, ErrBadRunID, "%q", id)
	}
	p, err := s.SampleLogPath("20260301T100000Z-abcdef")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(s.SampleLogDir(), "20260301T100000Z-abcdef.jsonl"), p)
}
