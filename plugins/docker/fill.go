package docker

import (
	"context"

	"github.com/chaosctl/chaosctl/internal/dockerengine"
	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/fill"
)

// fill creates disk pressure inside a container: it writes one file into a
// path of the container's filesystem or of one of its volumes, resolved on
// the host through inspect (the mount's source) or /proc/PID/root (the
// container's root and tmpfs mounts). Revert removes that file. Like the
// disk plugin, it refuses a host directory on the filesystem of / or of
// chaosctl's own directories unless allow_own_filesystem = true.
//
// The mechanics, shared with the kubernetes plugin, are fill's
// ContainerFile: here only what the docker plugin's revert data holds.
var fillAction = &action{
	Action: plugins.Action{
		Name:       "fill",
		Doc:        "fill a path of the container (its filesystem or a volume) with one file for the fault's duration; remove it on revert",
		Reversible: true,
		Params:     fill.ContainerParams(),
	},
	onlyRunning: true,
	validate:    fill.ValidateContainer,
	prepare:     prepareFill,
	inject: func(ctx context.Context, _ Engine, c Container, params plugins.Params, rd *revertData) error {
		if cpath, _ := params["path"].(string); rd.Fill == nil || rd.Fill.ContainerPath != cpath {
			if err := prepareFill(c, params, rd); err != nil {
				return err
			}
		}
		return rd.Fill.Inject(ctx, c, params, c.Name)
	},
	revert: func(ctx context.Context, e Engine, rd revertData) error {
		if rd.Fill == nil {
			return nil
		}
		// ErrNotFound: the container and its layer (or its pod and its
		// volumes) are gone, which Revert counts as done.
		return rd.Fill.Revert(ctx, e, rd.ContainerID, rd.Name)
	},
	status: func(ctx context.Context, e Engine, _ Container, rd revertData) (plugins.Status, error) {
		if rd.Fill == nil {
			return plugins.Status{}, nil
		}
		return rd.Fill.Status(ctx, e, rd.ContainerID, rd.Name)
	},
}

// prepareFill names the fill file, and where it will be on the host, before
// it exists.
func prepareFill(c Container, params plugins.Params, rd *revertData) error {
	cpath, _ := params["path"].(string)
	fd, err := fill.PrepareContainer(c, cpath)
	if err != nil {
		return err
	}
	rd.Fill = fd
	return nil
}

const (
	viaMount     = dockerengine.ViaMount
	viaMountRoot = dockerengine.ViaMountRoot
)

// fillData is what fill's revert needs.
type fillData = fill.ContainerFile

// resolve maps a directory of the container to a host path
// (dockerengine.HostPath).
func resolve(c Container, cpath string) (string, string, error) {
	return dockerengine.HostPath(c, cpath)
}

// resolvePath is resolve without the pid check.
func resolvePath(c Container, cpath string) (string, string, error) {
	return dockerengine.MapPath(c, cpath)
}
