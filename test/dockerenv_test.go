package test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// Everything the Docker tests create carries this label, and a unique name.
const testLabel = "chaosctl.test"

var engine struct {
	once  sync.Once
	cli   *client.Client
	image string
	err   error
}

// packageCleanups run after every test of the package (see TestMain).
var (
	cleanupMu       sync.Mutex
	packageCleanups []func()
)

func runPackageCleanups() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for i := len(packageCleanups) - 1; i >= 0; i-- {
		packageCleanups[i]()
	}
}

func uid() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// needDocker returns a client and the test image, built once. Without
// CHAOSCTL_E2E=1 the test is skipped; with it, an unreachable Engine fails.
func needEngine(t testing.TB) (*client.Client, string) {
	t.Helper()
	if os.Getenv("CHAOSCTL_E2E") != "1" {
		t.Skip("Docker end-to-end test: run with CHAOSCTL_E2E=1 (as .ci/run does) against a local Docker Engine")
	}
	engine.once.Do(func() {
		cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			engine.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := cli.Ping(ctx); err != nil {
			engine.err = fmt.Errorf("Docker Engine unreachable at %s: %w", cli.DaemonHost(), err)
			return
		}
		engine.cli = cli
		engine.image, engine.err = buildImage(ctx, cli)
		if engine.err == nil {
			cleanupMu.Lock()
			packageCleanups = append(packageCleanups, func() {
				_, _ = cli.ImageRemove(context.Background(), engine.image, image.RemoveOptions{Force: true, PruneChildren: true})
			})
			cleanupMu.Unlock()
		}
	})
	if engine.err != nil {
		t.Fatalf("CHAOSCTL_E2E=1 but Docker is not usable: %v", engine.err)
	}
	return engine.cli, engine.image
}

// buildImage builds FROM scratch with the static target binary: there is
// no registry to pull from.
func buildImage(ctx context.Context, cli *client.Client) (string, error) {
	bin, err := os.ReadFile(bins.target)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, b []byte) {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(b))})
		_, _ = tw.Write(b)
	}
	add("Dockerfile", 0o644, []byte("FROM scratch\nCOPY target /target\nENTRYPOINT [\"/target\"]\n"))
	add("target", 0o755, bin)
	tw.Close()
	tag := "chaosctl-test-target:" + uid()
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags: []string{tag}, Labels: map[string]string{testLabel: "1"}, Remove: true, ForceRemove: true,
	})
	if err != nil {
		return "", fmt.Errorf("image build: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if bytes.Contains(out, []byte(`"error"`)) {
		return "", fmt.Errorf("image build: %s", out)
	}
	return tag, nil
}

// testNet is a user-defined network with its own subnet, so containers keep
// their address across restarts and the host reaches them directly.
type testNet struct {
	ID, Name, Prefix string // Prefix: "10.231.7."
}

func (n testNet) IP(host int) string { return fmt.Sprintf("%s%d", n.Prefix, host) }
func (n testNet) Gateway() string    { return n.IP(1) }

func makeNetwork(t testing.TB, cli *client.Client) testNet {
	t.Helper()
	ctx := context.Background()
	name := "chaosctl-test-" + uid()
	for range 20 {
		x, _ := rand.Int(rand.Reader, big.NewInt(200))
		prefix := fmt.Sprintf("10.231.%d.", 20+x.Int64())
		resp, err := cli.NetworkCreate(ctx, name, network.CreateOptions{
			Driver: "bridge", Labels: map[string]string{testLabel: "1"},
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: prefix + "0/24", Gateway: prefix + "1"}}},
		})
		if err != nil && strings.Contains(err.Error(), "overlap") {
			continue
		}
		if err != nil {
			t.Fatalf("network create: %v", err)
		}
		t.Cleanup(func() { _ = cli.NetworkRemove(context.Background(), resp.ID) })
		return testNet{ID: resp.ID, Name: name, Prefix: prefix}
	}
	t.Fatal("no free 10.231.x.0/24 subnet")
	return testNet{}
}

// ctrOpts describes one test container.
type ctrOpts struct {
	Args    []string
	IP      string
	Restart container.RestartPolicyMode
	Volume  string // mounted at /data
	Health  bool   // healthcheck: /target -check http://127.0.0.1:8080/healthz
	Labels  map[string]string
}

// runContainer starts a target container named name on net; it is removed
// (with force) when the test ends.
func runContainer(t testing.TB, cli *client.Client, img string, net testNet, name string, o ctrOpts) string {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{testLabel: "1"}
	for k, v := range o.Labels {
		labels[k] = v
	}
	cfg := &container.Config{Image: img, Cmd: append([]string{"-listen", "0.0.0.0:8080"}, o.Args...), Labels: labels}
	if o.Health {
		cfg.Healthcheck = &container.HealthConfig{
			Test:     []string{"CMD", "/target", "-check", "http://127.0.0.1:8080/healthz"},
			Interval: 500 * time.Millisecond, Timeout: time.Second, Retries: 1,
		}
	}
	hc := &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: o.Restart}}
	if o.Restart == "" {
		hc.RestartPolicy.Name = container.RestartPolicyDisabled
	}
	if o.Volume != "" {
		hc.Binds = []string{o.Volume + ":/data"}
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		net.Name: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: o.IP}, Aliases: []string{name}},
	}}
	resp, err := cli.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerUnpause(context.Background(), resp.ID)
		_ = cli.ContainerRemove(context.Background(), resp.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	})
	if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	waitHealthy(t, "http://"+o.IP+":8080/healthz", 10*time.Second)
	return resp.ID
}

// tmpfsVolume is a small tmpfs-backed volume (it fills fast and leaves
// nothing on disk).
func tmpfsVolume(t *testing.T, cli *client.Client, size string) string {
	t.Helper()
	name := "chaosctl-test-" + uid()
	_, err := cli.VolumeCreate(context.Background(), volume.CreateOptions{
		Name: name, Driver: "local", Labels: map[string]string{testLabel: "1"},
		DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=" + size},
	})
	if err != nil {
		t.Fatalf("volume create: %v", err)
	}
	t.Cleanup(func() { _ = cli.VolumeRemove(context.Background(), name, true) })
	return name
}
