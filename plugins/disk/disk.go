// Package disk is the disk pressure fault: fill a filesystem to a target
// percent, or by a size, with one file under a reserved name
// (.chaosctl-fill-<id>). It uses fallocate, falling back to writing zeros
// where the filesystem does not support it, and measures with gopsutil.
// Revert deletes the file and checks that the space came back. It refuses
// the filesystem of / and of chaosctl's own directories
// (plugins.ProtectedPaths) unless allow_own_filesystem = true.
package disk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shirou/gopsutil/v3/disk"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/fill"
)

// FilePrefix starts the name of every fill file: anything else is never
// deleted by Revert.
const FilePrefix = ".chaosctl-fill-"

// ErrUnmeasurable is returned for a filesystem whose size cannot be read.
var ErrUnmeasurable = errors.New("cannot measure filesystem")

// Usage measures the filesystem holding path (gopsutil's disk.Usage).
type Usage func(ctx context.Context, path string) (*disk.UsageStat, error)

// Fault implements the "disk" plugin.
type Fault struct {
	usage Usage
}

var (
	_ plugins.Fault    = (*Fault)(nil)
	_ plugins.Preparer = (*Fault)(nil)
)

// New returns the disk fault measuring with gopsutil.
func New() *Fault { return &Fault{usage: disk.UsageWithContext} }

// Describe lists the actions.
func (*Fault) Describe(context.Context) (plugins.Descriptor, error) {
	return plugins.Descriptor{
		Name:    "disk",
		Version: "1",
		Doc:     "Fill a filesystem to a target percent or by a size; revert deletes the fill file.",
		Actions: []plugins.Action{{
			Name:       "fill",
			Doc:        "allocate one file (" + FilePrefix + "<id>) until the filesystem is percent full, or of size bytes",
			Reversible: true,
			Params: []plugins.Param{
				{Name: "percent", Type: plugins.TypeFloat, Min: new(1.0), Max: new(100.0), Doc: "target used percent of the filesystem (as df counts it)"},
				{Name: "size", Type: plugins.TypeString, Doc: "bytes to allocate instead, e.g. \"512MiB\", \"2GB\", \"4096\""},
				{Name: "method", Type: plugins.TypeString, Default: "auto", Enum: []string{"auto", "fallocate", "write"},
					Doc: "auto: fallocate, writing zeros where it is unsupported"},
				fill.AllowOwnParam,
			},
			Selector: []plugins.Param{
				{Name: "path", Type: plugins.TypeString, Required: true, Doc: "an existing directory on the filesystem to fill; the file goes there"},
			},
		}},
	}, nil
}

// Validate checks that exactly one of percent and size is given. It reads
// nothing from the host (a scenario may be validated elsewhere than where it
// runs): the path's filesystem is Targets' to check.
func (*Fault) Validate(_ context.Context, action string, params, sel plugins.Params) error {
	if action != "fill" {
		return fmt.Errorf("%w %q", plugins.ErrUnknownAction, action)
	}
	var errs []error
	_, hasPct := params["percent"]
	size, hasSize := params["size"].(string)
	if hasPct == hasSize {
		errs = append(errs, &plugins.ValidationError{Field: "params", Msg: "give exactly one of percent, size"})
	}
	if hasSize {
		if _, err := ParseSize(size); err != nil {
			errs = append(errs, &plugins.ValidationError{Field: "params.size", Msg: err.Error()})
		}
	}
	if p, _ := sel["path"].(string); !filepath.IsAbs(p) {
		errs = append(errs, &plugins.ValidationError{Field: "target.path", Msg: fmt.Sprintf("must be an absolute path, got %q", p)})
	}
	return errors.Join(errs...)
}

// ParseSize reads "4096", "512KiB", "64MiB", "1GiB", "2GB", "1.5TB".
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	units := map[string]float64{
		"": 1, "B": 1,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
	}
	mul, ok := units[strings.ToUpper(unit)]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f <= 0 || math.IsInf(f*mul, 0) {
		return 0, fmt.Errorf("not a size: %q (want e.g. \"512MiB\", \"2GB\" or bytes)", s)
	}
	return uint64(f * mul), nil
}

// Targets is the directory, if it exists on a filesystem that can be
// measured and that is not chaosctl's own (RefuseOwnFilesystem).
func (f *Fault) Targets(ctx context.Context, _ string, params plugins.Params, sel plugins.Params) ([]plugins.Target, error) {
	dir, _ := sel["path"].(string)
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, plugins.ErrNoTargets
	}
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, &plugins.ValidationError{Field: "target.path", Msg: dir + " is not a directory"}
	}
	if err := fill.RefuseOwnFilesystem(dir, params, "target.path"); err != nil {
		return nil, err
	}
	u, err := f.measure(ctx, dir)
	if err != nil {
		return nil, err
	}
	return []plugins.Target{{
		Kind: "path", ID: filepath.Clean(dir), Name: filepath.Clean(dir),
		Attrs: map[string]string{"fstype": u.Fstype, "total": strconv.FormatUint(u.Total, 10)},
	}}, nil
}

// measure refuses a filesystem it cannot size: filling it blind could not
// be checked, nor its revert.
func (f *Fault) measure(ctx context.Context, dir string) (*disk.UsageStat, error) {
	u, err := f.usage(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrUnmeasurable, dir, err)
	}
	if u.Total == 0 || u.Used+u.Free == 0 {
		return nil, fmt.Errorf("%w %s: it reports a size of 0 (%s)", ErrUnmeasurable, dir, u.Fstype)
	}
	return u, nil
}

// revertData is the fill file and how much it holds.
type revertData struct {
	Path  string `json:"path"`
	Bytes uint64 `json:"bytes"`
}

// fillPath is a new fill file name in dir, marked as ours by FilePrefix.
func fillPath(dir string) string {
	var id [6]byte
	_, _ = rand.Read(id[:])
	return filepath.Join(dir, FilePrefix+hex.EncodeToString(id[:]))
}

// Prepare names the fill file before it exists, so that a crash while it
// is being allocated still leaves revert data that removes it.
func (*Fault) Prepare(_ context.Context, req plugins.InjectRequest) ([]byte, error) {
	return json.Marshal(revertData{Path: fillPath(req.Target.ID)})
}

// Inject allocates the fill file. On any failure it removes what it made.
// It refuses chaosctl's own filesystem again: a target may come from
// elsewhere than Targets.
func (f *Fault) Inject(ctx context.Context, req plugins.InjectRequest) ([]byte, error) {
	dir := req.Target.ID
	if err := fill.RefuseOwnFilesystem(dir, req.Params, "target.path"); err != nil {
		return nil, err
	}
	u, err := f.measure(ctx, dir)
	if err != nil {
		return nil, err
	}
	var want int64
	switch {
	case req.Params["size"] != nil:
		s, _ := req.Params["size"].(string)
		n, err := ParseSize(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", plugins.ErrInvalidParams, err)
		}
		want = int64(n)
	default:
		pct, ok := req.Params["percent"].(float64)
		if !ok {
			return nil, fmt.Errorf("%w: percent: want float, got %T", plugins.ErrInvalidParams, req.Params["percent"])
		}
		if want = fill.Need(u, pct); want <= 0 {
			return nil, fmt.Errorf("%s is already %.1f%% full, at or above %g%%", dir, u.UsedPercent, pct)
		}
	}
	if uint64(want) > u.Free {
		return nil, fmt.Errorf("fill %s: needs %d bytes, only %d available", dir, want, u.Free)
	}
	path := fillPath(dir)
	if len(req.Prepared) > 0 {
		rd, err := decode(req.Prepared)
		if err != nil {
			return nil, err
		}
		if filepath.Dir(rd.Path) != filepath.Clean(dir) || !strings.HasPrefix(filepath.Base(rd.Path), FilePrefix) {
			return nil, fmt.Errorf("prepared fill file %s is not ours in %s", rd.Path, dir)
		}
		path = rd.Path
	}
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create fill file: %w", err)
	}
	method, _ := req.Params["method"].(string)
	err = fill.Allocate(ctx, fh, want, method)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("fill %s with %d bytes: %w", path, want, err)
	}
	return json.Marshal(revertData{Path: path, Bytes: uint64(want)})
}

// Revert deletes the fill file and waits (up to 5s) for the space to come
// back. A file that is already gone needs nothing.
func (f *Fault) Revert(ctx context.Context, _ string, data []byte) error {
	rd, err := decode(data)
	if err != nil {
		return err
	}
	st, err := os.Stat(rd.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("revert: %w", err)
	}
	held := allocated(st)
	dir := filepath.Dir(rd.Path)
	before, berr := f.usage(ctx, dir)
	if err := os.Remove(rd.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("revert: remove %s: %w", rd.Path, err)
	}
	if berr != nil || held == 0 {
		return nil
	}
	// Others write too: ask for 90% of what the file held.
	wantFree := before.Free + held*9/10
	deadline := time.Now().Add(5 * time.Second)
	for {
		after, err := f.usage(ctx, dir)
		if err == nil && after.Free >= wantFree {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			got := uint64(0)
			if err == nil && after.Free > before.Free {
				got = after.Free - before.Free
			}
			return fmt.Errorf("revert: removed %s but only %d of its %d bytes came back (is it still held open?)", rd.Path, got, held)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func decode(data []byte) (revertData, error) {
	var rd revertData
	if err := json.Unmarshal(data, &rd); err != nil {
		return rd, fmt.Errorf("revert data: %w", err)
	}
	if !strings.HasPrefix(filepath.Base(rd.Path), FilePrefix) || !filepath.IsAbs(rd.Path) {
		return rd, fmt.Errorf("revert data: %q is not a fill file (%s*)", rd.Path, FilePrefix)
	}
	return rd, nil
}

// Status is Active while the fill file exists; Detail is the space it
// really holds on disk (its allocated blocks) and the filesystem's use as
// df counts it.
func (f *Fault) Status(ctx context.Context, _ string, data []byte) (plugins.Status, error) {
	rd, err := decode(data)
	if err != nil {
		return plugins.Status{}, err
	}
	st, err := os.Stat(rd.Path)
	if errors.Is(err, os.ErrNotExist) {
		return plugins.Status{Detail: "fill file " + rd.Path + " is gone"}, nil
	}
	if err != nil {
		return plugins.Status{}, fmt.Errorf("status of fill file: %w", err)
	}
	detail := fmt.Sprintf("fill file %s holds %d bytes", rd.Path, allocated(st))
	if allocated(st) != uint64(st.Size()) {
		detail += fmt.Sprintf(" (size %d)", st.Size())
	}
	if u, err := f.usage(ctx, filepath.Dir(rd.Path)); err == nil {
		detail += fmt.Sprintf("; filesystem %.1f%% used", u.UsedPercent)
	} else {
		detail += "; filesystem use unknown: " + err.Error()
	}
	return plugins.Status{Active: true, Detail: detail}, nil
}

// allocated is the space a file takes on disk: its allocated blocks, which is
// what a fill is for (its size where blocks are not reported).
func allocated(st os.FileInfo) uint64 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Blocks) * 512
	}
	return uint64(st.Size())
}
