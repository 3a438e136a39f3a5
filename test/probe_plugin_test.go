package test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// probePluginDir is a plugin directory holding the example fault plugin
// (touch) and the example probe plugin (file), with a checksums file
// listing both.
func probePluginDir(t *testing.T) (dir, sums string) {
	t.Helper()
	dir = t.TempDir()
	var lines strings.Builder
	for name, src := range map[string]string{"chaosctl-plugin-touch": bins.touch, "chaosctl-probe-file": bins.probe} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		lines.WriteString(hex.EncodeToString(h[:]) + "  " + name + "\n")
	}
	sums = filepath.Join(t.TempDir(), "SHA256SUMS")
	if err := os.WriteFile(sums, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, sums
}

// probeScenario is judged by the file.exists probe of the example probe
// plugin, on a file of 7 bytes, with its extra keys.
func probeScenario(t *testing.T, steady string, availability float64, extra keys) (path, watched string) {
	watched = filepath.Join(t.TempDir(), "watched")
	if err := os.WriteFile(watched, []byte("1234567"), 0o644); err != nil {
		t.Fatal(err)
	}
	k := keys{"path": watched}
	maps.Copy(k, extra)
	path = scenarioFile(t, scenario{Name: "file-probe", Steady: steady,
		Probes: []probe{{Name: "watched", Kind: "file.exists", Interval: "50ms", Timeout: "500ms", Keys: k}},
		SLOs:   []objective{{Name: "present", Probe: "watched", Availability: availability, Window: steady}},
		Faults: []fault{{Name: "marker", Plugin: "touch", Action: "create", Keys: keys{"duration": "1s"}, Target: keys{"path": filepath.Join(t.TempDir(), "marker")}}},
		Within: "3s", Hold: "300ms"})
	return path, watched
}

// TestProbePluginEndToEnd: the example probe plugin, loaded by checksum,
// samples a file, and the run's SLO is judged on its samples.
func TestProbePluginEndToEnd(t *testing.T) {
	dir, sums := probePluginDir(t)
	ctx := context.Background()
	path, _ := probeScenario(t, "500ms", 100, nil)
	r := chaosctl(t, ctx, "run", path, "--plugin-dir", dir, "--plugin-checksums", sums)
	if r.code != 0 || r.journal == nil || r.journal.Verdict != journal.Passed {
		t.Fatalf("exit %d, want 0 and passed\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	n := 0
	for _, s := range r.journal.Samples {
		if s.Probe == "watched" {
			n++
			if !s.OK || s.Value != 7 {
				t.Fatalf("sample %+v, want ok with the file's size 7", s)
			}
		}
	}
	if n < 5 {
		t.Fatalf("%d samples of the plugin probe, want several", n)
	}

	// Its keys are checked from Describe, at file:line:col.
	bad, _ := probeScenario(t, "500ms", 100, keys{"pathh": "x"})
	v := chaosctl(t, ctx, "validate", bad, "--plugin-dir", dir, "--plugin-checksums", sums)
	if out := v.stdout + v.stderr; v.code != 2 || !strings.Contains(out, `scenario.toml:11:1: probe[0].pathh: unknown key for probe kind "file.exists" (known: absent, path)`) {
		t.Fatalf("unknown key: exit %d\n%s", v.code, out)
	}

	// The plugin's kinds are listed.
	l := chaosctl(t, ctx, "plugins", "--plugin-dir", dir, "--plugin-checksums", sums)
	if l.code != 0 || !strings.Contains(l.stdout, "file (external probe ") || !strings.Contains(l.stdout, "file.exists") {
		t.Fatalf("plugins does not list the probe plugin: exit %d\n%s\n%s", l.code, l.stdout, l.stderr)
	}
}

// TestProbePluginSeesTheBreach: the SLO is judged on the plugin's
// samples through a breach. The probe is ok while a marker file is absent;
// the fault creates it for 1s: the plugin's samples fail while it is
// there, and the recovery measured from them is the fault's length.
func TestProbePluginSeesTheBreach(t *testing.T) {
	dir, sums := probePluginDir(t)
	marker := filepath.Join(t.TempDir(), "marker")
	path := scenarioFile(t, scenario{Name: "file-probe-breach", Steady: "500ms",
		Probes: []probe{{Name: "no-marker", Kind: "file.exists", Interval: "50ms", Timeout: "500ms", Keys: keys{"path": marker, "absent": true}}},
		SLOs:   []objective{{Name: "clear", Probe: "no-marker", Availability: 100, Window: "500ms"}},
		Faults: []fault{{Name: "marker", Plugin: "touch", Action: "create", Keys: keys{"duration": "1s"}, Target: keys{"path": marker}}},
		Within: "3s", Hold: "300ms"})
	r := chaosctl(t, context.Background(), "run", path, "--plugin-dir", dir, "--plugin-checksums", sums)
	if r.code != 0 || r.journal == nil || r.journal.Verdict != journal.Passed {
		t.Fatalf("exit %d, want 0 and passed\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	j := r.journal
	if len(j.Faults) != 1 || j.Faults[0].InjectedAt == nil || j.Faults[0].RevertedAt == nil {
		t.Fatalf("fault not journalled: %+v", j.Faults)
	}
	in, out := *j.Faults[0].InjectedAt, *j.Faults[0].RevertedAt
	failed := 0
	for _, s := range j.Samples {
		if s.Probe == "no-marker" && !s.OK {
			failed++
			if s.End().Before(in) || s.Time.After(out) {
				t.Errorf("sample %+v failed outside the fault (%v to %v)", s, in, out)
			}
		}
	}
	if failed < 5 {
		t.Errorf("%d failed samples of the plugin probe while the marker was there, want about 20", failed)
	}
	if j.Recovery == nil || j.Recovery.Duration == nil {
		t.Fatalf("recovery not measured: %+v", j.Recovery)
	}
	// Measured from the injection: the marker was there for 1s.
	if d := *j.Recovery.Duration; d < time.Second || d > 2*time.Second {
		t.Errorf("time to recover %v, want the fault's 1s and less than a second more", d)
	}
}

// TestProbePluginKilledMidRun: kill -9 the probe plugin while a run
// samples it: the samples say "probe plugin died", the plugin is
// relaunched, later samples are ok, and the run ends with a verdict.
func TestProbePluginKilledMidRun(t *testing.T) {
	dir, sums := probePluginDir(t)
	path, _ := probeScenario(t, "2s", 50, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan result, 1)
	go func() { done <- chaosctl(t, ctx, "run", path, "--plugin-dir", dir, "--plugin-checksums", sums) }()
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0 && time.Now().Before(deadline); {
		if ps := procsWith(filepath.Join(dir, "chaosctl-probe-file")); len(ps) > 0 {
			pid = ps[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("the probe plugin never started")
	}
	time.Sleep(500 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.journal == nil || r.journal.Verdict == "" || r.journal.Verdict == journal.Error {
		t.Fatalf("exit %d: no verdict\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	died, okAfter := 0, 0
	for _, s := range r.journal.Samples {
		switch {
		case strings.Contains(s.Err, "probe plugin died"):
			died++
		case died > 0 && s.OK:
			okAfter++
		}
	}
	if died == 0 || okAfter == 0 {
		t.Fatalf("%d samples say the plugin died, %d ok after; want both > 0 (verdict %s)\n%s", died, okAfter, r.journal.Verdict, r.stderr)
	}
	if ps := procsWith(filepath.Join(dir, "chaosctl-probe-file")); len(ps) != 0 {
		t.Fatalf("probe plugin processes left: %v", ps)
	}
}
