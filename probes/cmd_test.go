package probes

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func TestCmdProbe(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		spec    CmdSpec
		ok      bool
		value   float64
		errPart string
	}{
		{name: "exit 0", spec: CmdSpec{Command: []string{"true"}}, ok: true},
		{name: "exit 1", spec: CmdSpec{Command: []string{"false"}}, value: 1, errPart: "exit 1, want 0"},
		{name: "expected non-zero", spec: CmdSpec{Command: sh("exit 3"), ExpectExit: 3}, ok: true, value: 3},
		{name: "stderr in reason", spec: CmdSpec{Command: sh("echo warming up >&2; echo 'db: not ready' >&2; exit 2")}, value: 2, errPart: "exit 2, want 0: db: not ready"},
		{name: "stdout match", spec: CmdSpec{Command: sh("echo accepting connections"), StdoutRegex: "^accepting"}, ok: true},
		{name: "stdout miss", spec: CmdSpec{Command: sh("echo no response"), StdoutRegex: "^accepting"}, errPart: `stdout does not match "^accepting"`},
		{name: "env passed", spec: CmdSpec{Command: sh(`test "$PROBE_MODE" = strict && test -n "$PATH"`), Env: map[string]string{"PROBE_MODE": "strict"}}, ok: true},
		{name: "dir used", spec: CmdSpec{Command: sh("pwd"), Dir: dir, StdoutRegex: "^" + dir + "\n$"}, ok: true},
		{name: "killed by signal", spec: CmdSpec{Command: sh("kill -TERM $$")}, value: -1, errPart: "signal: terminated"},
		{name: "not found", spec: CmdSpec{Command: []string{"/nonexistent/probe-cmd"}}, value: -1, errPart: "no such file or directory"},
		{name: "bad dir", spec: CmdSpec{Command: []string{"true"}, Dir: filepath.Join(dir, "missing")}, value: -1, errPart: "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.spec.Build("check")
			require.NoError(t, err)
			s := p.Probe(context.Background())
			assert.Equal(t, "check", s.Probe)
			assert.Equal(t, tt.ok, s.OK, "err: %s", s.Err)
			assert.Equal(t, tt.value, s.Value)
			if tt.ok {
				assert.Empty(t, s.Err)
			} else {
				assert.Contains(t, s.Err, tt.errPart)
			}
		})
	}
}

// gone reports whether pid no longer runs (absent, or a zombie waiting for
// a reaper that may not exist in a container).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool { return gone(pid) }, 5*time.Second, 10*time.Millisecond,
		"child %d outlived the probe", pid)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	return pid
}

func TestCmdProbeTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The shell starts a grandchild and waits: killing only the shell would
	// leave the sleep running.
	p, err := (&CmdSpec{Command: sh("sleep 30 & echo $! > " + pidFile + "; wait")}).Build("slow")
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s := p.Probe(ctx)
	assert.False(t, s.OK)
	assert.Equal(t, "timed out: context deadline exceeded", s.Err)
	assert.Less(t, s.Latency, 5*time.Second)
	waitGone(t, readPid(t, pidFile))
}

func TestCmdProbeKillsStrayChildrenAfterExit(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	p, err := (&CmdSpec{Command: sh("sleep 30 >/dev/null 2>&1 & echo $! > " + pidFile)}).Build("bg")
	require.NoError(t, err)

	s := p.Probe(context.Background())
	assert.True(t, s.OK, s.Err)
	waitGone(t, readPid(t, pidFile))
}

func TestCmdProbeStrayChildHoldingPipe(t *testing.T) {
	// The background sleep inherits stderr; the probe must not wait for it.
	p, err := (&CmdSpec{Command: sh("sleep 30 & echo ready"), StdoutRegex: "ready"}).Build("bg")
	require.NoError(t, err)
	s := p.Probe(context.Background())
	assert.True(t, s.OK, s.Err)
	assert.Less(t, s.Latency, 5*time.Second)
}

func TestCmdValidate(t *testing.T) {
	tests := []struct {
		name string
		spec CmdSpec
		want []FieldError
	}{
		{name: "ok", spec: CmdSpec{Command: []string{"pg_isready"}, Env: map[string]string{"A": "1"}, ExpectExit: 2, StdoutRegex: "x"}},
		{name: "missing", want: []FieldError{{"command", `required: the program and its arguments, e.g. ["pg_isready", "-h", "db"]`}}},
		{
			name: "every problem",
			spec: CmdSpec{Command: []string{""}, Env: map[string]string{"A=B": "x"}, ExpectExit: 256, StdoutRegex: "["},
			want: []FieldError{
				{"command", `required: the program and its arguments, e.g. ["pg_isready", "-h", "db"]`},
				{"env", `bad variable name "A=B"`},
				{"expect_exit", "256 is not an exit code (0..255)"},
				{"stdout_regex", "bad regexp: error parsing regexp: missing closing ]: `[`"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.spec.Validate())
		})
	}
}
