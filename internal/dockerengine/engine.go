package dockerengine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// Sentinel errors of the Docker adapter.
var (
	// ErrNotFound: the container (or network) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnreachable: the Docker Engine cannot be reached.
	ErrUnreachable = errors.New("docker engine unreachable")
)

// Engine is the handful of Docker Engine calls chaosctl makes. It is the one
// seam between chaosctl and the Docker client library: moving to
// github.com/moby/moby/client changes only engineClient below, and the
// selection and revert logic is unit-tested against a small fake.
type Engine interface {
	List(ctx context.Context) ([]Container, error) // running and paused containers
	Inspect(ctx context.Context, id string) (Container, error)
	Kill(ctx context.Context, id, signal string) error
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Start(ctx context.Context, id string) error
	Restart(ctx context.Context, id string, timeout time.Duration) error
	Pause(ctx context.Context, id string) error
	Unpause(ctx context.Context, id string) error
	Disconnect(ctx context.Context, networkID, id string) error
	Connect(ctx context.Context, networkID, id string, ep Endpoint) error
	// Events streams container events for the given containers (all when
	// none). The error channel receives one error when the stream breaks.
	Events(ctx context.Context, containers ...string) (<-chan Event, <-chan error)
	// EventsSince is Events that first replays the Engine's buffered
	// events from since (by the Engine's clock) on. The Engine answers an
	// events request before it subscribes, so an event that happens right
	// after Events returns can be missed; one after since cannot.
	EventsSince(ctx context.Context, since time.Time, containers ...string) (<-chan Event, <-chan error)
	Close() error
}

// Container is what chaosctl needs to know about one container.
type Container struct {
	ID           string
	Name         string // without the leading slash
	Image        string
	Labels       map[string]string
	State        string // running, paused, exited, ...
	Running      bool
	Paused       bool
	Pid          int
	ExitCode     int // of the last run, when not running
	StartedAt    time.Time
	RestartCount int
	Health       string // "", starting, healthy, unhealthy
	Restart      string // restart policy name
	Networks     map[string]Endpoint
	Mounts       []Mount
	UpperDir     string // the container's writable layer on the host, when known
}

// Endpoint is a container's attachment to a network.
type Endpoint struct {
	NetworkID   string   `json:"network_id"`
	NetworkName string   `json:"network_name"`
	Aliases     []string `json:"aliases,omitempty"`
	IPv4        string   `json:"ipv4,omitempty"`
	IPv6        string   `json:"ipv6,omitempty"`
}

// Mount is a volume or bind mount.
type Mount struct {
	Type        string // volume, bind, tmpfs
	Name        string // volume name
	Source      string // path on the host ("" for tmpfs)
	Destination string // path in the container
}

// Event is one container event.
type Event struct {
	Time   time.Time
	ID     string
	Name   string
	Action string // die, start, health_status: healthy, ...
	Attrs  map[string]string
}

// Connect opens the Docker Engine named by DOCKER_HOST (or the default
// socket) and checks that it answers.
func Connect(ctx context.Context) (Engine, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%w: %w (check DOCKER_HOST)", ErrUnreachable, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, unreachable(cli.DaemonHost(), err)
	}
	return &engineClient{cli: cli}, nil
}

// unreachable turns a failed ping into an error naming the socket and the
// likely cause.
func unreachable(host string, err error) error {
	where := host
	if os.Getenv("DOCKER_HOST") != "" {
		where = "DOCKER_HOST=" + host
	} else {
		where += " (set DOCKER_HOST to use another engine)"
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "permission denied"):
		return fmt.Errorf("%w: permission denied on %s: run as root or as a member of the docker group: %w", ErrUnreachable, where, err)
	case strings.Contains(msg, "no such file"), strings.Contains(msg, "connection refused"):
		return fmt.Errorf("%w: no Docker Engine listening at %s: is dockerd running? %w", ErrUnreachable, where, err)
	}
	return fmt.Errorf("%w at %s: %w", ErrUnreachable, where, err)
}

type engineClient struct{ cli *client.Client }

var _ Engine = (*engineClient)(nil)

// wrap maps the client's errors onto the adapter's sentinels.
func wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case client.IsErrNotFound(err):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case client.IsErrConnectionFailed(err):
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return err
}

func (e *engineClient) List(ctx context.Context) ([]Container, error) {
	list, err := e.cli.ContainerList(ctx, container.ListOptions{})
	if err != nil {
		return nil, wrap(err)
	}
	out := make([]Container, 0, len(list))
	for _, c := range list {
		name := ""
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = append(out, Container{
			ID: c.ID, Name: name, Image: c.Image, Labels: c.Labels, State: string(c.State),
			Running: c.State == container.StateRunning, Paused: c.State == container.StatePaused,
		})
	}
	return out, nil
}

func (e *engineClient) Inspect(ctx context.Context, id string) (Container, error) {
	in, err := e.cli.ContainerInspect(ctx, id)
	if err != nil {
		return Container{}, wrap(err)
	}
	c := Container{ID: in.ID, Name: strings.TrimPrefix(in.Name, "/"), RestartCount: in.RestartCount}
	if in.Config != nil {
		c.Image, c.Labels = in.Config.Image, in.Config.Labels
	}
	if s := in.State; s != nil {
		c.State, c.Running, c.Paused, c.Pid, c.ExitCode = string(s.Status), s.Running, s.Paused, s.Pid, s.ExitCode
		c.StartedAt, _ = time.Parse(time.RFC3339Nano, s.StartedAt)
		if s.Health != nil {
			c.Health = string(s.Health.Status)
		}
	}
	if in.HostConfig != nil {
		c.Restart = string(in.HostConfig.RestartPolicy.Name)
	}
	if in.NetworkSettings != nil {
		c.Networks = map[string]Endpoint{}
		for name, ep := range in.NetworkSettings.Networks {
			if ep == nil {
				continue
			}
			x := Endpoint{NetworkID: ep.NetworkID, NetworkName: name, Aliases: ep.Aliases, IPv4: ep.IPAddress, IPv6: ep.GlobalIPv6Address}
			if ep.IPAMConfig != nil { // the addresses the user asked for win
				if ep.IPAMConfig.IPv4Address != "" {
					x.IPv4 = ep.IPAMConfig.IPv4Address
				}
				if ep.IPAMConfig.IPv6Address != "" {
					x.IPv6 = ep.IPAMConfig.IPv6Address
				}
			}
			c.Networks[name] = x
		}
	}
	for _, m := range in.Mounts {
		c.Mounts = append(c.Mounts, Mount{Type: string(m.Type), Name: m.Name, Source: m.Source, Destination: m.Destination})
	}
	c.UpperDir = in.GraphDriver.Data["UpperDir"]
	return c, nil
}

func seconds(d time.Duration) *int {
	s := int(d.Round(time.Second) / time.Second)
	return &s
}

func (e *engineClient) Kill(ctx context.Context, id, signal string) error {
	return wrap(e.cli.ContainerKill(ctx, id, signal))
}
func (e *engineClient) Stop(ctx context.Context, id string, timeout time.Duration) error {
	return wrap(e.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: seconds(timeout)}))
}
func (e *engineClient) Start(ctx context.Context, id string) error {
	return wrap(e.cli.ContainerStart(ctx, id, container.StartOptions{}))
}
func (e *engineClient) Restart(ctx context.Context, id string, timeout time.Duration) error {
	return wrap(e.cli.ContainerRestart(ctx, id, container.StopOptions{Timeout: seconds(timeout)}))
}
func (e *engineClient) Pause(ctx context.Context, id string) error {
	return wrap(e.cli.ContainerPause(ctx, id))
}
func (e *engineClient) Unpause(ctx context.Context, id string) error {
	return wrap(e.cli.ContainerUnpause(ctx, id))
}
func (e *engineClient) Disconnect(ctx context.Context, networkID, id string) error {
	return wrap(e.cli.NetworkDisconnect(ctx, networkID, id, true))
}
func (e *engineClient) Connect(ctx context.Context, networkID, id string, ep Endpoint) error {
	es := &network.EndpointSettings{Aliases: ep.Aliases}
	if ep.IPv4 != "" || ep.IPv6 != "" {
		es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ep.IPv4, IPv6Address: ep.IPv6}
	}
	return wrap(e.cli.NetworkConnect(ctx, networkID, id, es))
}

func (e *engineClient) Events(ctx context.Context, containers ...string) (<-chan Event, <-chan error) {
	return e.EventsSince(ctx, time.Time{}, containers...)
}

func (e *engineClient) EventsSince(ctx context.Context, since time.Time, containers ...string) (<-chan Event, <-chan error) {
	f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)))
	for _, c := range containers {
		f.Add("container", c)
	}
	opts := events.ListOptions{Filters: f}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	msgs, errs := e.cli.Events(ctx, opts)
	out := make(chan Event)
	oerr := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case m := <-msgs:
				ev := Event{Time: time.Unix(0, m.TimeNano), ID: m.Actor.ID, Name: m.Actor.Attributes["name"], Action: string(m.Action), Attrs: m.Actor.Attributes}
				select {
				case out <- ev:
				case <-ctx.Done():
					oerr <- ctx.Err()
					return
				}
			case err := <-errs:
				oerr <- wrap(err)
				return
			case <-ctx.Done():
				oerr <- ctx.Err()
				return
			}
		}
	}()
	return out, oerr
}

func (e *engineClient) Close() error { return e.cli.Close() }

// Lazy connects to the Engine on first use and keeps the connection until
// Close; the docker and latency faults and the container probe share it.
type Lazy struct {
	Connect func(context.Context) (Engine, error)
	mu      sync.Mutex
	e       Engine
}

// Get returns the connection, connecting first if need be.
func (l *Lazy) Get(ctx context.Context) (Engine, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.e == nil {
		e, err := l.Connect(ctx)
		if err != nil {
			return nil, err
		}
		l.e = e
	}
	return l.e, nil
}

// Close drops the connection; the next Get connects again.
func (l *Lazy) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.e == nil {
		return nil
	}
	err := l.e.Close()
	l.e = nil
	return err
}
