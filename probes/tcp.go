package probes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

func init() {
	register(Kind{
		Name:    "tcp",
		Doc:     "TCP connect, optionally send bytes and read until an expected substring; ok when that succeeds.",
		NewSpec: func() Spec { return &TCPSpec{} },
	})
}

// maxTCPRead caps how much is read while waiting for expect.
const maxTCPRead = 64 << 10

// TCPSpec is the "tcp" probe: connect, then optionally write send and read
// until expect appears.
type TCPSpec struct {
	Address string `toml:"address"` // required, host:port
	Send    string `toml:"send"`    // written after connecting
	Expect  string `toml:"expect"`  // substring that must arrive (within 64 KiB)
}

// Validate reports every problem with the spec.
func (s *TCPSpec) Validate() []FieldError {
	var errs []FieldError
	if s.Address == "" {
		return append(errs, FieldError{Field: "address", Msg: "required"})
	}
	host, port, err := net.SplitHostPort(s.Address)
	switch {
	case err != nil:
		var ae *net.AddrError
		msg := err.Error()
		if errors.As(err, &ae) {
			msg = ae.Err
		}
		errs = append(errs, FieldError{Field: "address", Msg: fmt.Sprintf("want host:port, got %q: %s", s.Address, msg)})
	case host == "":
		errs = append(errs, FieldError{Field: "address", Msg: fmt.Sprintf("no host in %q", s.Address)})
	default:
		if !validPort(port) {
			errs = append(errs, FieldError{Field: "address", Msg: fmt.Sprintf("bad port %q", port)})
		}
	}
	return errs
}

// validPort accepts 1..65535 or a service name known to the system.
func validPort(port string) bool {
	if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		return n > 0
	}
	if _, err := strconv.Atoi(port); err == nil {
		return false // numeric but out of range
	}
	_, err := net.LookupPort("tcp", port)
	return err == nil
}

// Build returns the prober.
func (s *TCPSpec) Build(name string) (Prober, error) {
	if err := validated(name, s.Validate()); err != nil {
		return nil, err
	}
	return &tcpProber{name: name, spec: *s}, nil
}

type tcpProber struct {
	name   string
	spec   TCPSpec
	dialer net.Dialer
}

var _ Prober = (*tcpProber)(nil)

func (p *tcpProber) Probe(ctx context.Context) Sample {
	return measure(ctx, p.name, p.attempt)
}

func (p *tcpProber) attempt(ctx context.Context) (float64, error) {
	conn, err := p.dialer.DialContext(ctx, "tcp", p.spec.Address)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if p.spec.Send == "" && p.spec.Expect == "" {
		return 0, nil
	}
	// Reads and writes do not take a context: closing the connection when
	// ctx ends unblocks them.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	if p.spec.Send != "" {
		if _, err := io.WriteString(conn, p.spec.Send); err != nil {
			return 0, ctxOr(ctx, fmt.Errorf("send: %w", err))
		}
	}
	if p.spec.Expect == "" {
		return 0, nil
	}
	want := []byte(p.spec.Expect)
	buf := make([]byte, 0, 4096)
	for len(buf) < maxTCPRead {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if bytes.Contains(buf, want) {
			return 0, nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("connection closed after %d bytes without %q", len(buf), p.spec.Expect)
			}
			return 0, ctxOr(ctx, fmt.Errorf("read: %w", err))
		}
	}
	return 0, fmt.Errorf("no %q in the first %d bytes", p.spec.Expect, maxTCPRead)
}

// ctxOr returns ctx's error when ctx has ended (the real reason an I/O call
// on a connection closed by context.AfterFunc failed), else err.
func ctxOr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}
