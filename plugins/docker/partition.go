package docker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/chaosctl/chaosctl/plugins"
)

// partition disconnects the container from one network for the fault's
// duration; revert reconnects it with the same aliases and, where the
// network allows a chosen address, the same IP.
var partitionAction = &action{
	Action: plugins.Action{
		Name:       "partition",
		Doc:        "disconnect the container from a network for the fault's duration; reconnect (same aliases and IP where possible) on revert",
		Reversible: true,
		Params: []plugins.Param{
			{Name: "network", Type: plugins.TypeString, Doc: "network name or id; required when the container is on more than one"},
		},
	},
	onlyRunning: true,
	prepare:     preparePartition,
	inject: func(ctx context.Context, e Engine, c Container, params plugins.Params, rd *revertData) error {
		if rd.Network == nil {
			if err := preparePartition(c, params, rd); err != nil {
				return err
			}
		}
		ep := *rd.Network
		if err := e.Disconnect(ctx, ep.NetworkID, c.ID); err != nil {
			rd.Network = nil
			return fmt.Errorf("disconnect %s from %s: %w", c.Name, ep.NetworkName, err)
		}
		return nil
	},
	revert: func(ctx context.Context, e Engine, rd revertData) error {
		if rd.Network == nil {
			return nil
		}
		c, err := e.Inspect(ctx, rd.ContainerID)
		if err != nil {
			return err
		}
		for _, ep := range c.Networks {
			if ep.NetworkID == rd.Network.NetworkID {
				return nil // already connected
			}
		}
		err = e.Connect(ctx, rd.Network.NetworkID, rd.ContainerID, *rd.Network)
		if err != nil && !errors.Is(err, ErrNotFound) && (rd.Network.IPv4 != "" || rd.Network.IPv6 != "") {
			// Only user-configured subnets accept a chosen address: retry
			// with an address the network picks.
			ep := *rd.Network
			ep.IPv4, ep.IPv6 = "", ""
			if err2 := e.Connect(ctx, ep.NetworkID, rd.ContainerID, ep); err2 == nil {
				return nil
			}
		}
		if err != nil {
			return fmt.Errorf("reconnect to %s: %w", rd.Network.NetworkName, err)
		}
		return nil
	},
	status: func(_ context.Context, _ Engine, c Container, rd revertData) (plugins.Status, error) {
		if rd.Network == nil {
			return plugins.Status{Detail: "no network named in the revert data: nothing was cut"}, nil
		}
		// By the network's id: a network of the same name created since is
		// another network.
		for _, ep := range c.Networks {
			if ep.NetworkID == rd.Network.NetworkID {
				return plugins.Status{Detail: fmt.Sprintf("container %s is connected to %s (%s)", c.Name, rd.Network.NetworkName, addrs(ep))}, nil
			}
		}
		return plugins.Status{Active: true, Detail: fmt.Sprintf("container %s is not connected to %s (network %s)", c.Name, rd.Network.NetworkName, short(rd.Network.NetworkID))}, nil
	},
}

// preparePartition names the endpoint to cut, with what reconnecting needs.
func preparePartition(c Container, params plugins.Params, rd *revertData) error {
	want, _ := params["network"].(string)
	ep, err := pickNetwork(c, want)
	if err != nil {
		return err
	}
	ep.Aliases = userAliases(ep.Aliases, c.ID)
	rd.Network = &ep
	return nil
}

// pickNetwork finds the endpoint to cut: the one named (or id) want, or the
// only one.
func pickNetwork(c Container, want string) (Endpoint, error) {
	names := make([]string, 0, len(c.Networks))
	for n := range c.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	if want == "" {
		if len(names) != 1 {
			return Endpoint{}, &plugins.ValidationError{Field: "params.network",
				Msg: fmt.Sprintf("container %s is on %d networks (%s): name one", c.Name, len(names), strings.Join(names, ", "))}
		}
		return c.Networks[names[0]], nil
	}
	for _, n := range names {
		ep := c.Networks[n]
		if n == want || ep.NetworkID == want || (len(want) >= 12 && strings.HasPrefix(ep.NetworkID, want)) {
			return ep, nil
		}
	}
	return Endpoint{}, fmt.Errorf("container %s is not on network %q (on: %s)", c.Name, want, strings.Join(names, ", "))
}

// userAliases drops the alias Docker adds by itself (the short id).
func userAliases(aliases []string, id string) []string {
	var out []string
	for _, a := range aliases {
		if len(id) >= 12 && a == id[:12] {
			continue
		}
		out = append(out, a)
	}
	return out
}

// addrs is an endpoint's addresses for a Detail.
func addrs(ep Endpoint) string {
	var a []string
	for _, ip := range []string{ep.IPv4, ep.IPv6} {
		if ip != "" {
			a = append(a, ip)
		}
	}
	if len(a) == 0 {
		return "no address"
	}
	return strings.Join(a, ", ")
}

// short is an id as docker ps prints it.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
