package probes

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tcpServer accepts connections and hands each to handle.
func tcpServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return l.Addr().String()
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestTCPProbe(t *testing.T) {
	echo := tcpServer(t, func(c net.Conn) {
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil {
			_, _ = io.WriteString(c, "+PONG "+line)
		}
	})
	banner := tcpServer(t, func(c net.Conn) { _, _ = io.WriteString(c, "SSH-2.0-test\r\n") })
	silent := tcpServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	refused := closedPort(t)

	tests := []struct {
		name    string
		spec    TCPSpec
		ok      bool
		errPart string
	}{
		{name: "connect only", spec: TCPSpec{Address: echo}, ok: true},
		{name: "send and expect", spec: TCPSpec{Address: echo, Send: "PING\n", Expect: "+PONG"}, ok: true},
		{name: "expect banner", spec: TCPSpec{Address: banner, Expect: "SSH-2.0"}, ok: true},
		{name: "send only", spec: TCPSpec{Address: silent, Send: "hello"}, ok: true},
		{name: "wrong reply", spec: TCPSpec{Address: echo, Send: "PING\n", Expect: "-ERR"}, errPart: `connection closed after 11 bytes without "-ERR"`},
		{name: "closed port", spec: TCPSpec{Address: refused}, errPart: "connection refused"},
		{name: "closed port with send", spec: TCPSpec{Address: refused, Send: "x", Expect: "y"}, errPart: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.spec.Build("db")
			require.NoError(t, err)
			s := p.Probe(context.Background())
			assert.Equal(t, "db", s.Probe)
			assert.Equal(t, tt.ok, s.OK, "err: %s", s.Err)
			if tt.ok {
				assert.Empty(t, s.Err)
			} else {
				assert.Contains(t, s.Err, tt.errPart)
			}
			assert.Positive(t, s.Latency)
		})
	}
}

func TestTCPProbeTimeoutWaitingForExpect(t *testing.T) {
	silent := tcpServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	p, err := (&TCPSpec{Address: silent, Send: "PING\n", Expect: "PONG"}).Build("db")
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s := p.Probe(ctx)
	assert.False(t, s.OK)
	assert.Equal(t, "timed out: context deadline exceeded", s.Err)
}

func TestTCPValidate(t *testing.T) {
	tests := []struct {
		name string
		spec TCPSpec
		want []FieldError
	}{
		{name: "ok", spec: TCPSpec{Address: "db:5432"}},
		{name: "named port", spec: TCPSpec{Address: "db:https"}},
		{name: "ipv6", spec: TCPSpec{Address: "[::1]:80"}},
		{name: "missing", want: []FieldError{{"address", "required"}}},
		{name: "no port", spec: TCPSpec{Address: "db"}, want: []FieldError{{"address", `want host:port, got "db": missing port in address`}}},
		{name: "no host", spec: TCPSpec{Address: ":80"}, want: []FieldError{{"address", `no host in ":80"`}}},
		{name: "bad port", spec: TCPSpec{Address: "db:99999"}, want: []FieldError{{"address", `bad port "99999"`}}},
		{name: "port zero", spec: TCPSpec{Address: "db:0"}, want: []FieldError{{"address", `bad port "0"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.spec.Validate())
		})
	}
}
