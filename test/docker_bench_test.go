package test

import (
	"context"
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/chaosctl/chaosctl/plugins"
	dockerplugin "github.com/chaosctl/chaosctl/plugins/docker"
)

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

// BenchmarkCrashToDieEvent: how long from the docker plugin's crash
// (SIGKILL to the container's init from the host) to the Engine's `die`
// event reaching chaosctl, next to the wall time of `docker kill` (CLI) on
// an identical container, in the same run. Medians of 5 each.
func BenchmarkCrashToDieEvent(b *testing.B) {
	cli, img := needEngine(b)
	n := makeNetwork(b, cli)
	ctx := context.Background()
	eng, err := dockerplugin.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	fault := dockerplugin.NewWithEngine(eng)
	dockerCLI, cliErr := exec.LookPath("docker")

	for range b.N {
		var crash, kill []time.Duration
		for i := range 5 {
			name := "chaosctl-bench-" + uid()
			id := runContainer(b, cli, img, n, name, ctrOpts{IP: n.IP(10 + i)})
			ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
			evs, errs := eng.Events(ectx, id)
			time.Sleep(50 * time.Millisecond) // the subscription is live
			start := time.Now()
			if _, err := fault.Inject(ctx, plugins.InjectRequest{Action: "crash", Target: plugins.Target{Kind: "container", ID: id}}); err != nil {
				b.Fatal(err)
			}
		wait:
			for {
				select {
				case ev := <-evs:
					if ev.Action == "die" {
						crash = append(crash, time.Since(start))
						break wait
					}
				case err := <-errs:
					b.Fatalf("event stream: %v", err)
				}
			}
			cancel()
			if cliErr == nil {
				name2 := "chaosctl-bench-" + uid()
				runContainer(b, cli, img, n, name2, ctrOpts{IP: n.IP(20 + i)})
				start := time.Now()
				if out, err := exec.Command(dockerCLI, "kill", name2).CombinedOutput(); err != nil {
					b.Fatalf("docker kill: %v: %s", err, out)
				}
				kill = append(kill, time.Since(start))
			}
			_ = cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
		}
		b.ReportMetric(float64(median(crash).Microseconds())/1e3, "crash_to_die_event_ms")
		if len(kill) > 0 {
			b.ReportMetric(float64(median(kill).Microseconds())/1e3, "docker_kill_cli_ms")
		}
	}
}
