package docker

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosctl/chaosctl/plugins"
)

func status(t *testing.T, f *Fault, action string, rd []byte) plugins.Status {
	t.Helper()
	st, err := f.Status(context.Background(), action, rd)
	require.NoError(t, err)
	return st
}

// TestInstantActionsWaitForTheDieEvent: kill and restart subscribe to the
// container's events before acting, wait (bounded, in simulated time) for
// its die event and record it; Status is Active only when it was seen.
func TestInstantActionsWaitForTheDieEvent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		action   string
		params   plugins.Params
		setup    func(fe *fakeEngine, id string)
		active   bool
		waited   time.Duration // simulated time Inject took
		exitCode int           // recorded, when active
		detail   string
	}{
		{name: "kill", action: "kill", active: true, exitCode: 137,
			detail: "(exit code 137); container api-1 now exited (exit code 137)"},
		{name: "kill with a signal the container handles", action: "kill", params: plugins.Params{"signal": "SIGTERM"},
			setup:  func(fe *fakeEngine, _ string) { fe.ignore["SIGTERM"] = true },
			waited: dieBound, detail: "no die event seen within 10s; container api-1 now running since"},
		{name: "kill, then the container is removed", action: "kill", active: true, exitCode: 137,
			setup:  nil, // removed after Inject, below
			detail: "(exit code 137); container api-1 now removed"},
		{name: "event stream broken", action: "kill",
			setup:  func(fe *fakeEngine, _ string) { fe.eventsErr = errors.New("connection reset") },
			detail: "the Engine's event stream broke before a die event: connection reset; container api-1 now exited (exit code 137)"},
		{name: "restart", action: "restart", params: plugins.Params{"timeout": "2s"}, active: true, exitCode: 143,
			detail: "(exit code 143); container api-1 now running since"},
		{name: "restart without a die event", action: "restart", params: plugins.Params{"timeout": "2s"},
			setup:  func(fe *fakeEngine, _ string) { fe.ignore["restart"] = true },
			waited: 2*time.Second + dieBound, detail: "no die event seen within 12s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := ctr("a1", "api-1", nil)
				c.StartedAt = time.Now().Add(-time.Minute)
				fe := newFake(c)
				if tc.setup != nil {
					tc.setup(fe, c.ID)
				}
				f := NewWithEngine(fe)
				start := time.Now()
				data, err := f.Inject(context.Background(), plugins.InjectRequest{Action: tc.action, Params: tc.params, Target: plugins.Target{Kind: "container", ID: c.ID}})
				require.NoError(t, err, "a die event not seen is no Inject error")
				assert.Equal(t, tc.waited, time.Since(start))
				if tc.name == "kill, then the container is removed" {
					fe.remove(c.ID)
				}

				events := slices.Index(fe.calls, "events ["+c.ID+"]")
				acted := slices.IndexFunc(fe.calls, func(s string) bool { return s != fe.calls[events] })
				assert.True(t, events >= 0 && events < acted, "subscribed to events after acting: %v", fe.calls)

				st := status(t, NewWithEngine(fe), tc.action, data)
				assert.Equal(t, tc.active, st.Active, st.Detail)
				assert.Contains(t, st.Detail, tc.detail)
				if tc.active {
					assert.Contains(t, st.Detail, "die event at "+time.Now().Local().Format(clock))
					rd := decodeRD(t, data)
					require.NotNil(t, rd.ExitCode)
					assert.Equal(t, tc.exitCode, *rd.ExitCode)
				}
			})
		})
	}
}

// TestDieEventBeforeTheStreamIsLiveIsNotLost: the Engine answers an
// events request before it subscribes, so a die right after the request
// reaches only a subscriber that asked for the events since the container
// started.
func TestDieEventBeforeTheStreamIsLiveIsNotLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := ctr("a1", "api-1", nil)
		c.StartedAt = time.Now().Add(-time.Minute)
		fe := newFake(c)
		require.NoError(t, fe.Kill(context.Background(), c.ID, "SIGKILL")) // before the subscription
		w := watchDie(context.Background(), fe, c)
		rd := identity(c)
		w.wait(context.Background(), dieBound, &rd)
		assert.False(t, rd.DiedAt.IsZero(), "die event lost: %s", rd.NoDie)
	})
}

func decodeRD(t *testing.T, data []byte) revertData {
	t.Helper()
	var rd revertData
	require.NoError(t, json.Unmarshal(data, &rd))
	return rd
}

// TestReversibleStatusFollowsTheEngine: each reversible action's Status
// reads the container's state now: a fault undone behind chaosctl's back
// shows as not active, with what was found.
func TestReversibleStatusFollowsTheEngine(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		action       string
		params       plugins.Params
		activeDetail string
		undo         func(fe *fakeEngine, c Container, rd revertData) error // by hand
		goneDetail   string
	}{
		{"pause", nil, "container api-1 is paused",
			func(fe *fakeEngine, c Container, _ revertData) error { return fe.Unpause(context.Background(), c.ID) },
			"container api-1 is not paused: running"},
		{"stop", plugins.Params{"start_after": true}, "container api-1 is exited (exit code 143)",
			func(fe *fakeEngine, c Container, _ revertData) error { return fe.Start(context.Background(), c.ID) },
			"container api-1 is running since"},
		{"partition", nil, "container api-1 is not connected to backend (network net1)",
			func(fe *fakeEngine, c Container, rd revertData) error {
				return fe.Connect(context.Background(), rd.Network.NetworkID, c.ID, *rd.Network)
			},
			"container api-1 is connected to backend (10.5.0.7)"},
		{"fill", plugins.Params{"path": "/data", "allow_own_filesystem": true, "bytes": int64(1 << 20)}, "of api-1 holds 1048576 bytes; filesystem ",
			func(_ *fakeEngine, _ Container, rd revertData) error { return os.Remove(rd.Fill.HostFile) },
			"of api-1 is gone"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			c := ctr("a1", "api-1", nil)
			c.StartedAt = time.Now()
			c.Networks = map[string]Endpoint{"backend": {NetworkID: "net1", NetworkName: "backend", IPv4: "10.5.0.7"}}
			c.Mounts = []Mount{{Type: "volume", Source: dir, Destination: "/data"}}
			fe := newFake(c)
			f := NewWithEngine(fe)
			data := inject(t, f, tc.action, c.ID, tc.params)
			st := status(t, f, tc.action, data)
			assert.True(t, st.Active, st.Detail)
			assert.Contains(t, st.Detail, tc.activeDetail)

			require.NoError(t, tc.undo(fe, c, decodeRD(t, data)))
			st = status(t, f, tc.action, data)
			assert.False(t, st.Active, st.Detail)
			assert.Contains(t, st.Detail, tc.goneDetail)
			require.NoError(t, f.Revert(context.Background(), tc.action, data))
		})
	}
	files, _ := filepath.Glob(filepath.Join(dir, ".chaosctl-fill-*"))
	assert.Empty(t, files)
}

// TestStopWithoutStartAfterIsLasting: with start_after = false the
// container stays stopped after Revert, and Status says that is meant
// (Lasting), so the engine does not count it a failed revert; with
// start_after it is not lasting.
func TestStopWithoutStartAfterIsLasting(t *testing.T) {
	for _, startAfter := range []bool{false, true} {
		c := ctr("a1", "api-1", nil)
		f := NewWithEngine(newFake(c))
		data := inject(t, f, "stop", c.ID, plugins.Params{"start_after": startAfter})
		st := status(t, f, "stop", data)
		assert.True(t, st.Active, st.Detail)
		assert.Equal(t, !startAfter, st.Lasting, "start_after = %v while stopped: %+v", startAfter, st)
		require.NoError(t, f.Revert(context.Background(), "stop", data))
		st = status(t, f, "stop", data)
		if startAfter {
			assert.False(t, st.Active, "start_after = true: revert started it: %+v", st)
			continue
		}
		assert.True(t, st.Active && st.Lasting, "start_after = false: after revert %+v, want active and lasting", st)
		assert.Contains(t, st.Detail, "start_after = false: revert leaves it stopped")
	}
}

// TestFillStatusOutlivesTheContainer: a fill of a volume is still there
// when its container was removed, and Status says so.
func TestFillStatusOutlivesTheContainer(t *testing.T) {
	dir := t.TempDir()
	c := ctr("a1", "api-1", nil)
	c.Mounts = []Mount{{Type: "volume", Source: dir, Destination: "/data"}}
	fe := newFake(c)
	f := NewWithEngine(fe)
	data := inject(t, f, "fill", c.ID, plugins.Params{"path": "/data", "allow_own_filesystem": true, "bytes": int64(4096)})
	fe.remove(c.ID)
	st := status(t, f, "fill", data)
	assert.True(t, st.Active, st.Detail)
	assert.Contains(t, st.Detail, "holds 4096 bytes")
	require.NoError(t, f.Revert(context.Background(), "fill", data))
	st = status(t, f, "fill", data)
	assert.False(t, st.Active, st.Detail)
	assert.Contains(t, st.Detail, "is gone")
}

func TestStateOf(t *testing.T) {
	at := time.Date(2026, 1, 2, 12, 0, 1, 123e6, time.Local)
	for _, tc := range []struct {
		c    Container
		want string
	}{
		{Container{State: "running", Running: true, StartedAt: at}, "running since 12:00:01.123"},
		{Container{State: "running", Running: true}, "running"},
		// Restarting, the Engine says Running: it is not.
		{Container{State: "restarting", Running: true, StartedAt: at, ExitCode: 137, RestartCount: 2}, "restarting (exit code 137, restart 2)"},
		{Container{State: "exited", ExitCode: 143}, "exited (exit code 143)"},
		{Container{State: "paused", Running: true, Paused: true}, "paused"},
		{Container{State: "removed"}, "removed"},
		{Container{}, "in an unknown state"},
	} {
		assert.Equal(t, tc.want, stateOf(tc.c))
	}
}
