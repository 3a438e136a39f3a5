package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/probes"
)

// SampleLog is a run's samples on disk, one JSON object (a probes.Sample)
// a line, appended as they are recorded: the whole record of a run whose
// journal keeps only a thinned set (Journal.SampleLog names it). It is
// not safe for concurrent use; the engine's recorder serialises Record.
type SampleLog struct {
	f      *os.File
	w      *bufio.Writer
	path   string
	line   []byte
	errs   map[string][]byte // the JSON of error strings seen, few per run
	flushd time.Time
}

// sampleLogFlushEvery bounds how old the newest sample on disk may be
// while a run goes on: a reader of a live run, or of a run the daemon
// died in, sees up to about this long ago.
const sampleLogFlushEvery = time.Second

// CreateSampleLog creates (or truncates) the sample log at path, and its
// directory (0700) when needed.
func CreateSampleLog(path string) (*SampleLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sample log dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sample log: %w", err)
	}
	return &SampleLog{f: f, w: bufio.NewWriterSize(f, 64<<10), path: path, errs: map[string][]byte{}, flushd: time.Now()}, nil
}

// Path is the file the samples go to.
func (l *SampleLog) Path() string { return l.path }

// Record appends s. It encodes by hand, without allocating, because a
// long run records millions of samples; ReadSampleLog (encoding/json)
// reads them back as they were.
func (l *SampleLog) Record(s probes.Sample) error {
	b := append(l.line[:0], `{"probe":`...)
	b = l.appendString(b, s.Probe)
	b = append(b, `,"time":"`...)
	b = s.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","ok":`...)
	b = strconv.AppendBool(b, s.OK)
	b = append(b, `,"latency_ns":`...)
	b = strconv.AppendInt(b, int64(s.Latency), 10)
	// JSON has no NaN or infinity: such a value is left out (read as 0).
	if s.Value != 0 && !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) {
		b = append(b, `,"value":`...)
		b = strconv.AppendFloat(b, s.Value, 'g', -1, 64)
	}
	if s.Err != "" {
		b = append(b, `,"error":`...)
		b = l.appendString(b, s.Err)
	}
	if s.Unmeasured {
		b = append(b, `,"unmeasured":true`...)
	}
	b = append(b, "}\n"...)
	l.line = b
	if _, err := l.w.Write(b); err != nil {
		return fmt.Errorf("sample log %s: %w", l.path, err)
	}
	if now := time.Now(); now.Sub(l.flushd) >= sampleLogFlushEvery {
		l.flushd = now
		if err := l.w.Flush(); err != nil {
			return fmt.Errorf("sample log %s: %w", l.path, err)
		}
	}
	return nil
}

// appendString appends s as a JSON string. Probe names and errors repeat,
// so their encodings are kept (up to a bound, for errors that do not).
func (l *SampleLog) appendString(b []byte, s string) []byte {
	if e, ok := l.errs[s]; ok {
		return append(b, e...)
	}
	e, _ := json.Marshal(s) // a string always encodes
	if len(l.errs) < 1024 {
		l.errs[s] = e
	}
	return append(b, e...)
}

// Close flushes and closes the log.
func (l *SampleLog) Close() error {
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sample log %s: %w", l.path, err)
	}
	return nil
}

// ErrNotSampleLog is returned by ReadSampleLog for a line that is not a
// sample.
var ErrNotSampleLog = errors.New("not a chaosctl sample log")

// ReadSampleLog calls fn with every sample in the log at path, in the
// order they were recorded, and stops at the first error fn returns. A
// last line without its newline (the runner died while writing it) is not
// a sample and is skipped; any other line that is not one is an error
// naming the file and line.
func ReadSampleLog(path string, fn func(probes.Sample) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read sample log: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer (a very long error): gather it.
			long := bytes.Clone(line)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if errors.Is(err, io.EOF) {
			return nil // with a torn last line, or none
		}
		if err != nil {
			return fmt.Errorf("read sample log %s: %w", path, err)
		}
		var s probes.Sample
		if jerr := json.Unmarshal(line, &s); jerr != nil || s.Probe == "" || s.Time.IsZero() {
			if jerr == nil {
				jerr = errors.New("no probe or time")
			}
			return fmt.Errorf("read sample log %s:%d: %w: %w", path, n, ErrNotSampleLog, jerr)
		}
		if err := fn(s); err != nil {
			return err
		}
	}
}

// SampleLogBeside is where a local run whose journal goes to journalPath
// streams its samples: beside it, named after it.
func SampleLogBeside(journalPath string) string {
	return strings.TrimSuffix(journalPath, ".json") + ".samples.jsonl"
}

// AdoptSampleLog gives j the samples in the sample log at path, which is
// all that is left of what a run measured when it died before writing
// them to its journal: every one of them, or, past MaxWholeSamples, as
// thinned as a long run's journal keeps them. j names the log and counts
// its samples (SampleLog, SamplesTotal), and its span widens to cover
// them. A log that is not there leaves j as it was; so does a journal
// that names its log already.
func (j *Journal) AdoptSampleLog(path string) error {
	if j.SampleLog != "" {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// One read keeps every sample while there are few enough to keep them
	// all; a long run's log is read again, thinned, once its span is known.
	n := 0
	var first, last time.Time
	var all []probes.Sample
	err := ReadSampleLog(path, func(s probes.Sample) error {
		if n == 0 || s.Time.Before(first) {
			first = s.Time
		}
		if e := s.End(); e.After(last) {
			last = e
		}
		if n++; n <= MaxWholeSamples {
			all = append(all, s)
		} else {
			all = nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		j.SampleLog = path
		return nil
	}
	// A journal made up after the run died starts when it was made up.
	if j.StartedAt.IsZero() || first.Before(j.StartedAt) {
		j.StartedAt = first
	}
	if last.After(j.EndedAt) {
		j.EndedAt = last
	}
	var width time.Duration // every sample
	if n > MaxWholeSamples {
		width = ThinWidth(j.StartedAt, j.EndedAt, ThinPoints)
	}
	th := NewThinner(j.StartedAt, width, 2*ThinPoints)
	if all != nil {
		for _, s := range all {
			th.Add(s)
		}
	} else if err := ReadSampleLog(path, func(s probes.Sample) error { th.Add(s); return nil }); err != nil {
		return err
	}
	j.Samples = th.Samples()
	j.SampleLog, j.SamplesTotal, j.SampleResolution = path, n, width
	return nil
}
