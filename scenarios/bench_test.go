package scenarios

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// probesScenario is a valid scenario with n http probes, each a [[probe]]
// table with name, kind, url and interval: n = 40,000 is 2.6 MB.
func probesScenario(n int) []byte {
	var b strings.Builder
	b.WriteString("version = 1\nname = \"many-probes\"\n\n")
	for i := range n {
		fmt.Fprintf(&b, "[[probe]]\nname=\"p%d\"\nkind=\"http\"\nurl=\"http://h/%d\"\ninterval=\"1s\"\n", i, i)
	}
	b.WriteString("[[slo]]\nname = \"avail\"\nprobe = \"p0\"\navailability = 99\n\n[recovery]\nrecover_within = \"10s\"\n")
	return []byte(b.String())
}

// BenchmarkValidateProbes validates scenarios of 10,000 (1x), 40,000 (4x)
// and 160,000 (16x) probes: the time per probe (ns/probe) stays flat when
// validation is linear in the file's size. The 40,000-probe file (2.2 MB)
// must validate in well under 0.5 s.
func BenchmarkValidateProbes(b *testing.B) {
	useFakeKinds(b)
	for _, mult := range []int{1, 4, 16} {
		n := 10_000 * mult
		data := probesScenario(n)
		b.Run(fmt.Sprintf("%dx-%dprobes", mult, n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var total, cpu, floor time.Duration
			for b.Loop() {
				start, cpu0 := time.Now(), cpuTime()
				if _, err := Parse(context.Background(), "many.toml", data, nil); err != nil {
					b.Fatal(err)
				}
				total, cpu = total+time.Since(start), cpu+cpuTime()-cpu0
				start = time.Now()
				var top map[string]toml.Primitive
				if _, err := toml.Decode(string(data), &top); err != nil {
					b.Fatal(err)
				}
				floor += time.Since(start)
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/float64(n), "ns/probe")
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/file")
			// CPU time (all threads, GC included) says the same on a busy
			// machine, where wall time also counts other processes.
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/file")
			// BurntSushi's bare parse of the same file, the floor.
			b.ReportMetric(float64(floor.Milliseconds())/float64(b.N), "parse-ms/file")
			b.ReportMetric(float64(len(data))/1e6, "MB")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
