package docker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
)

func ctr(id, name string, labels map[string]string) Container {
	return Container{ID: id + strings.Repeat("0", 64-len(id)), Name: name, Image: "api:1", Labels: labels, State: "running", Running: true}
}

func TestValidate(t *testing.T) {
	f := NewWithEngine(newFake())
	tests := []struct {
		action string
		params plugins.Params
		sel    plugins.Params
		want   string // substring of the error, "" for none
	}{
		{"crash", nil, plugins.Params{"name": "x"}, ""},
		{"crash", nil, plugins.Params{}, "target: give at least one of name"},
		{"crash", nil, plugins.Params{"name_regex": "("}, "target.name_regex: not a regular expression"},
		{"crash", plugins.Params{"signal": "SIGFOO"}, plugins.Params{"name": "x"}, "params.signal: unsupported signal"},
		{"kill", plugins.Params{"signal": "term"}, plugins.Params{"name": "x"}, ""},
		{"crash", nil, plugins.Params{"name": "x", "count": int64(1), "all": true}, "at most one of count, percent, all"},
		{"fill", plugins.Params{"path": "data"}, plugins.Params{"name": "x"}, "params.path: must be an absolute path"},
		{"stop", plugins.Params{"timeout": "soon"}, plugins.Params{"name": "x"}, "params.timeout: not a duration"},
		{"explode", nil, plugins.Params{"name": "x"}, "unknown action"},
	}
	for _, tc := range tests {
		err := f.Validate(context.Background(), tc.action, tc.params, tc.sel)
		if tc.want == "" {
			assert.NoError(t, err, tc.action)
			continue
		}
		require.Error(t, err, tc.action)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestTargetsEmptySelection(t *testing.T) {
	f := NewWithEngine(newFake(ctr("a1", "api", nil)))
	_, err := f.Targets(context.Background(), "crash", nil, plugins.Params{"name": "web"})
	require.ErrorIs(t, err, plugins.ErrNoTargets)
	assert.Contains(t, err.Error(), "name=web")
}

func inject(t *testing.T, f *Fault, action, id string, params plugins.Params) []byte {
	t.Helper()
	rd, err := f.Inject(context.Background(), plugins.InjectRequest{Action: action, Params: params, Target: plugins.Target{Kind: "container", ID: id}})
	require.NoError(t, err)
	return rd
}

func TestPartitionRevertReconnectsSameAliasesAndIP(t *testing.T) {
	c := ctr("a1", "api-1", nil)
	c.Networks = map[string]Endpoint{"backend": {NetworkID: "net1", NetworkName: "backend", Aliases: []string{"api", c.ID[:12]}, IPv4: "10.5.0.7"}}
	fe := newFake(c)
	f := NewWithEngine(fe)
	rd := inject(t, f, "partition", c.ID, nil)
	st, err := f.Status(context.Background(), "partition", rd)
	require.NoError(t, err)
	assert.True(t, st.Active)

	// A fresh plugin instance reverts from the revert data alone.
	require.NoError(t, NewWithEngine(fe).Revert(context.Background(), "partition", rd))
	assert.Equal(t, []string{"disconnect net1 " + c.ID, "connect net1 " + c.ID + " ip=10.5.0.7 aliases=[api]"}, fe.calls)
	// Reverting twice does nothing more.
	require.NoError(t, f.Revert(context.Background(), "partition", rd))
	assert.Len(t, fe.calls, 2)
}

func TestPartitionRevertFallsBackToAnyIP(t *testing.T) {
	c := ctr("a1", "api-1", nil)
	c.Networks = map[string]Endpoint{"bridge": {NetworkID: "net1", NetworkName: "bridge", IPv4: "172.17.0.3"}}
	fe := newFake(c)
	fe.connectErr = func(ep Endpoint) error {
		if ep.IPv4 != "" {
			return errors.New("user specified IP address is supported on user defined networks only")
		}
		return nil
	}
	f := NewWithEngine(fe)
	rd := inject(t, f, "partition", c.ID, nil)
	require.NoError(t, f.Revert(context.Background(), "partition", rd))
	assert.Contains(t, fe.calls[len(fe.calls)-1], "ip= ")
}

func TestPartitionNeedsNetworkWhenSeveral(t *testing.T) {
	c := ctr("a1", "api-1", nil)
	c.Networks = map[string]Endpoint{"a": {NetworkID: "n1", NetworkName: "a"}, "b": {NetworkID: "n2", NetworkName: "b"}}
	f := NewWithEngine(newFake(c))
	_, err := f.Inject(context.Background(), plugins.InjectRequest{Action: "partition", Target: plugins.Target{ID: c.ID}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "on 2 networks (a, b): name one")
}

func TestRevertOfVanishedContainerIsDone(t *testing.T) {
	for _, action := range []string{"pause", "stop", "partition"} {
		t.Run(action, func(t *testing.T) {
			c := ctr("a1", "api-1", nil)
			c.Networks = map[string]Endpoint{"backend": {NetworkID: "net1", NetworkName: "backend"}}
			fe := newFake(c)
			f := NewWithEngine(fe)
			rd := inject(t, f, action, c.ID, nil)
			fe.remove(c.ID)
			assert.NoError(t, f.Revert(context.Background(), action, rd))
			st, err := f.Status(context.Background(), action, rd)
			require.NoError(t, err)
			assert.False(t, st.Active)
		})
	}
}

func TestStopAndPauseRevert(t *testing.T) {
	c := ctr("a1", "api-1", nil)
	fe := newFake(c)
	f := NewWithEngine(fe)
	rd := inject(t, f, "stop", c.ID, plugins.Params{"start_after": true})
	require.NoError(t, f.Revert(context.Background(), "stop", rd))
	rd = inject(t, f, "pause", c.ID, nil)
	require.NoError(t, f.Revert(context.Background(), "pause", rd))
	rd = inject(t, f, "stop", c.ID, plugins.Params{"start_after": false})
	require.NoError(t, f.Revert(context.Background(), "stop", rd))
	assert.Equal(t, []string{"stop " + c.ID, "start " + c.ID, "pause " + c.ID, "unpause " + c.ID, "stop " + c.ID}, fe.calls)
}

func TestInjectVanishedContainer(t *testing.T) {
	f := NewWithEngine(newFake())
	_, err := f.Inject(context.Background(), plugins.InjectRequest{Action: "pause", Target: plugins.Target{ID: "gone"}})
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "vanished before injection")
}

func TestFillThroughMountAndRevert(t *testing.T) {
	dir := t.TempDir()
	c := ctr("a1", "api-1", nil)
	c.Mounts = []Mount{{Type: "volume", Source: dir, Destination: "/data"}}
	fe := newFake(c)
	f := NewWithEngine(fe)
	rd := inject(t, f, "fill", c.ID, plugins.Params{"path": "/data", "allow_own_filesystem": true, "bytes": int64(1 << 20)})
	files, _ := filepath.Glob(filepath.Join(dir, ".chaosctl-fill-*"))
	require.Len(t, files, 1)
	fi, err := os.Stat(files[0])
	require.NoError(t, err)
	assert.Equal(t, int64(1<<20), fi.Size())
	// The volume outlives the container: revert still removes the file.
	fe.remove(c.ID)
	require.NoError(t, f.Revert(context.Background(), "fill", rd))
	_, err = os.Stat(files[0])
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestFillRefusesChaosctlsFilesystem: a volume whose host directory is on
// the filesystem of one of chaosctl's directories (here a directory beside
// it, so the same device) is refused before any file is made, unless
// allow_own_filesystem = true. (The other tests fill t.TempDir(), which is
// often on /, so they set it.)
func TestFillRefusesChaosctlsFilesystem(t *testing.T) {
	t.Setenv(plugins.ProtectedPathsEnv, "")
	state := filepath.Join(t.TempDir(), "state")
	plugins.ProtectPaths(state)
	dir := t.TempDir()
	c := ctr("a1", "api-1", nil)
	c.Mounts = []Mount{{Type: "volume", Source: dir, Destination: "/data"}}
	f := NewWithEngine(newFake(c))
	req := plugins.InjectRequest{Action: "fill", Params: plugins.Params{"path": "/data", "bytes": int64(4096)},
		Target: plugins.Target{Kind: "container", ID: c.ID}}
	_, err := f.Inject(context.Background(), req)
	var ve *plugins.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "params.path", ve.Field)
	for _, w := range []string{"path /data of api-1", dir, "the filesystem of " + state, "device ", "allow_own_filesystem = true overrides"} {
		assert.Contains(t, err.Error(), w)
	}
	files, _ := filepath.Glob(filepath.Join(dir, ".chaosctl-fill-*"))
	assert.Empty(t, files, "a refused fill left a file")

	req.Params["allow_own_filesystem"] = true
	rd, err := f.Inject(context.Background(), req)
	require.NoError(t, err)
	require.NoError(t, f.Revert(context.Background(), "fill", rd))
}

func TestResolve(t *testing.T) {
	v := t.TempDir() // the volumes' sources, as the host sees them
	for _, d := range []string{"data", "cache"} {
		require.NoError(t, os.Mkdir(filepath.Join(v, d), 0o755))
	}
	c := Container{Pid: 42, Mounts: []Mount{
		{Source: v + "/data", Destination: "/data"},
		{Source: v + "/cache", Destination: "/data/cache"},
		{Type: "tmpfs", Destination: "/tmp"},
	}}
	for in, want := range map[string]string{
		"/data":           v + "/data",
		"/data/x":         v + "/data/x",
		"/data/cache/y":   v + "/cache/y",
		"/datax":          "/proc/42/root/datax",
		"/tmp":            "/proc/42/root/tmp",
		"/var/lib/../lib": "/proc/42/root/var/lib",
	} {
		got, _, err := resolvePath(c, in)
		require.NoError(t, err)
		assert.Equal(t, want, got, in)
	}
}

// TestPreparedRevertData: what Prepare returns, recorded before Inject,
// reverts harmlessly when Inject never ran and undoes it when it did.
func TestPreparedRevertData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := ctr("a1", "api-1", nil)
	c.Networks = map[string]Endpoint{"backend": {NetworkID: "net1", NetworkName: "backend", Aliases: []string{"api"}, IPv4: "10.5.0.7"}}
	c.Mounts = []Mount{{Type: "volume", Source: dir, Destination: "/data"}}
	fe := newFake(c)
	f := NewWithEngine(fe)
	target := plugins.Target{Kind: "container", ID: c.ID}

	for _, tc := range []struct {
		action string
		params plugins.Params
	}{
		{"pause", nil},
		{"stop", nil},
		{"partition", nil},
		{"fill", plugins.Params{"path": "/data", "allow_own_filesystem": true, "bytes": int64(4096)}},
	} {
		t.Run(tc.action, func(t *testing.T) {
			req := plugins.InjectRequest{Action: tc.action, Params: tc.params, Target: target}
			prepared, err := f.Prepare(ctx, req)
			require.NoError(t, err)
			require.NotEmpty(t, prepared)
			before := len(fe.calls)
			require.NoError(t, NewWithEngine(fe).Revert(ctx, tc.action, prepared))
			assert.Len(t, fe.calls, before, "revert of a fault never injected changed something: %v", fe.calls[before:])

			req.Prepared = prepared
			_, err = f.Inject(ctx, req)
			require.NoError(t, err)
			require.NoError(t, NewWithEngine(fe).Revert(ctx, tc.action, prepared))
			st, err := f.Status(ctx, tc.action, prepared)
			require.NoError(t, err)
			assert.False(t, st.Active, "still in effect after a revert from prepared data: %s", st.Detail)
		})
	}
	files, _ := filepath.Glob(filepath.Join(dir, ".chaosctl-fill-*"))
	assert.Empty(t, files)
}

// TestResolveRefusesSymlinks: an absolute symlink inside a volume (or a
// container's root) points into the host's filesystem when followed from
// the host; fill refuses such a path.
func TestResolveRefusesSymlinks(t *testing.T) {
	vol := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(vol, "real"), 0o755))
	require.NoError(t, os.Symlink("/run", filepath.Join(vol, "run")))
	c := Container{Mounts: []Mount{{Source: vol, Destination: "/data"}}}
	got, _, err := resolve(c, "/data/real")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(vol, "real"), got)
	_, _, err = resolve(c, "/data/run/x")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "symbolic link")
}

// TestOwnPid: this test's own process is not a container's: a pid whose
// cgroup does not name the container is refused before it is signalled.
func TestOwnPid(t *testing.T) {
	c := Container{ID: "0123456789abcdef0123456789abcdef", Name: "api", Pid: os.Getpid()}
	err := dockerengine.OwnPid(c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pid namespace")
	_, _, err = resolve(c, "/tmp")
	require.Error(t, err, "a fill through /proc/PID/root of a pid that is not the container's")
}
