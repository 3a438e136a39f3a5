package disk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v3/disk"
	"golang.org/x/sys/unix"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/fill"
)

// tmpfs mounts a fresh tmpfs of size (e.g. "16m") for the test. Where
// that is impossible (not root, or mount refused) the test is skipped,
// saying why, unless CHAOSCTL_E2E is set: then it fails.
func tmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	why := ""
	if os.Geteuid() != 0 {
		why = "mounting a tmpfs needs root"
	} else if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "chaosctl-test", dir).CombinedOutput(); err != nil {
		why = fmt.Sprintf("mount tmpfs: %v: %s", err, bytes.TrimSpace(out))
	}
	if why != "" {
		if os.Getenv("CHAOSCTL_E2E") != "" {
			t.Fatalf("%s, and CHAOSCTL_E2E is set: this test needs a real small filesystem", why)
		}
		t.Skipf("SKIPPED, not tested: %s; run as root (CHAOSCTL_E2E=1 makes this a failure) to test on a real small filesystem", why)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func TestFillTmpfsToPercentAndRevert(t *testing.T) {
	for _, method := range []string{"fallocate", "write"} {
		t.Run(method, func(t *testing.T) {
			dir := tmpfs(t, "16m")
			ctx := context.Background()
			f := New()
			sel := plugins.Params{"path": dir}
			params := plugins.Params{"percent": 75.0, "method": method}
			if err := f.Validate(ctx, "fill", params, sel); err != nil {
				t.Fatal(err)
			}
			ts, err := f.Targets(ctx, "fill", params, sel)
			if err != nil {
				t.Fatal(err)
			}
			rd, err := f.Inject(ctx, plugins.InjectRequest{Action: "fill", Params: params, Target: ts[0]})
			if err != nil {
				t.Fatal(err)
			}
			u, err := disk.Usage(dir)
			if err != nil {
				t.Fatal(err)
			}
			if u.UsedPercent < 74.5 || u.UsedPercent > 76 {
				t.Fatalf("filesystem %.2f%% used, want 75%% (±1)", u.UsedPercent)
			}
			if st, _ := f.Status(ctx, "fill", rd); !st.Active {
				t.Errorf("status %+v, want active", st)
			}
			var data revertData
			_ = json.Unmarshal(rd, &data)
			if filepath.Dir(data.Path) != dir || filepath.Base(data.Path)[:len(FilePrefix)] != FilePrefix {
				t.Errorf("fill file %s not under a reserved name in %s", data.Path, dir)
			}
			if err := f.Revert(ctx, "fill", rd); err != nil {
				t.Fatal(err)
			}
			after, _ := disk.Usage(dir)
			if after.Used > 64<<10 {
				t.Fatalf("%d bytes still used after revert", after.Used)
			}
			if err := f.Revert(ctx, "fill", rd); err != nil {
				t.Fatalf("second revert: %v", err)
			}
		})
	}
}

func TestFillBeyondFreeSpaceIsRefused(t *testing.T) {
	dir := tmpfs(t, "4m")
	f := New()
	ts, err := f.Targets(context.Background(), "fill", nil, plugins.Params{"path": dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Inject(context.Background(), plugins.InjectRequest{Action: "fill", Params: plugins.Params{"size": "8MiB"}, Target: ts[0]})
	if err == nil {
		t.Fatal("8MiB filled on a 4MiB filesystem")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("left %d files behind", len(ents))
	}
}

func TestRefusesUnmeasurableFilesystem(t *testing.T) {
	for name, u := range map[string]Usage{
		"statfs fails": func(context.Context, string) (*disk.UsageStat, error) { return nil, unix.ENOSYS },
		"zero size": func(context.Context, string) (*disk.UsageStat, error) {
			return &disk.UsageStat{Fstype: "proc"}, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := &Fault{usage: u}
			_, err := f.Targets(context.Background(), "fill", plugins.Params{fill.AllowOwnFilesystem: true}, plugins.Params{"path": t.TempDir()})
			if !errors.Is(err, ErrUnmeasurable) {
				t.Fatalf("got %v, want ErrUnmeasurable", err)
			}
		})
	}
}

func TestNeed(t *testing.T) {
	u := &disk.UsageStat{Used: 300, Free: 700}
	for _, tc := range []struct {
		pct  float64
		want int64
	}{{50, 200}, {30, 0}, {10, -200}, {100, 700}} {
		if got := fill.Need(u, tc.pct); got != tc.want {
			t.Errorf("fill.Need(%v) = %d, want %d", tc.pct, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	later := "/var/lib/payments" // need not exist: Validate reads nothing from the host
	for _, tc := range []struct {
		params, sel plugins.Params
		want        string
	}{
		{plugins.Params{"percent": 50.0}, plugins.Params{"path": later}, ""},
		{plugins.Params{}, plugins.Params{"path": later}, "params: give exactly one of percent, size"},
		{plugins.Params{"percent": 5.0, "size": "1M"}, plugins.Params{"path": later}, "params: give exactly one of percent, size"},
		{plugins.Params{"size": "lots"}, plugins.Params{"path": later}, `params.size: not a size: "lots" (want e.g. "512MiB", "2GB" or bytes)`},
		{plugins.Params{"size": "1GiB"}, plugins.Params{"path": "tmp"}, `target.path: must be an absolute path, got "tmp"`},
	} {
		err := New().Validate(context.Background(), "fill", tc.params, tc.sel)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("Validate(%v, %v) = %q, want %q", tc.params, tc.sel, got, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{"4096": 4096, "512KiB": 512 << 10, "64MiB": 64 << 20, "1GiB": 1 << 30, "2GB": 2e9, "1.5 M": 3 << 19} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1XB", "0", "MiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

// BenchmarkFill1GiB is Inject -> effective for a 1 GiB fill: from the call
// until gopsutil sees the space used, on a tmpfs (root) or /tmp otherwise,
// through fallocate and through the write fallback.
func BenchmarkFill1GiB(b *testing.B) {
	for _, method := range []string{"fallocate", "write"} {
		b.Run(method, func(b *testing.B) {
			dir := b.TempDir()
			where := "tmp"
			if os.Geteuid() == 0 {
				dir, where = tmpfs(b, "1200m"), "tmpfs"
			}
			f := New()
			ctx := context.Background()
			// /tmp may be on /, which a fill refuses unless told.
			ts, err := f.Targets(ctx, "fill", plugins.Params{fill.AllowOwnFilesystem: true}, plugins.Params{"path": dir})
			if err != nil {
				b.Fatal(err)
			}
			var total time.Duration
			for range b.N {
				before, _ := disk.Usage(dir)
				start := time.Now()
				rd, err := f.Inject(ctx, plugins.InjectRequest{Action: "fill", Params: plugins.Params{"size": "1GiB", "method": method, fill.AllowOwnFilesystem: true}, Target: ts[0]})
				if err != nil {
					b.Fatal(err)
				}
				for {
					u, _ := disk.Usage(dir)
					if u.Used >= before.Used+1<<30 {
						break
					}
					if time.Since(start) > time.Minute {
						b.Fatal("1GiB never showed as used")
					}
				}
				total += time.Since(start)
				if err := f.Revert(ctx, "fill", rd); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-effective/"+where)
		})
	}
}

// TestStatusReportsTheRealFile: Status measures the fill file and the
// filesystem; a file deleted by hand is a fault that vanished.
func TestStatusReportsTheRealFile(t *testing.T) {
	dir := tmpfs(t, "8m")
	ctx := context.Background()
	f := New()
	ts, err := f.Targets(ctx, "fill", nil, plugins.Params{"path": dir})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := f.Inject(ctx, plugins.InjectRequest{Action: "fill", Params: plugins.Params{"size": "2MiB", "method": "fallocate"}, Target: ts[0]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Revert(context.Background(), "fill", rd) })
	var data revertData
	_ = json.Unmarshal(rd, &data)
	u, err := disk.Usage(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name   string
		do     func() error
		active bool
		detail string
	}{
		{"filled", func() error { return nil }, true,
			fmt.Sprintf("fill file %s holds 2097152 bytes; filesystem %.1f%% used", data.Path, u.UsedPercent)},
		{"truncated by hand", func() error { return os.Truncate(data.Path, 0) }, true, "holds 0 bytes"},
		{"deleted by hand", func() error { return os.Remove(data.Path) }, false, "fill file " + data.Path + " is gone"},
		{"reverted", func() error { return f.Revert(ctx, "fill", rd) }, false, "is gone"},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		st, err := New().Status(ctx, "fill", rd)
		if err != nil || st.Active != step.active || !strings.Contains(st.Detail, step.detail) {
			t.Fatalf("%s: status %+v, %v; want active=%v with %q", step.name, st, err, step.active, step.detail)
		}
	}
}
