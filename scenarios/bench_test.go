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
// table with name, kind, url and interval: n = 40,000 is 2.8 MB.
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
// validation is linear in the file's size. The 40,000-probe file (2.8 MB)
// must validate in under 0.5 s. The position index is built only when a
// position is first asked for (an error to place): its cost is printed
// apart. Beside each figure stands BurntSushi's bare parse of the whole
// file in one call (toml.Decode), the floor of any decoder that parses it
// once; a big file is parsed in pieces, one per core
// (internal/stricttoml/split.go), so on more than one core validation can
// take less wall time than that, for a little more CPU. On a busy machine,
// where wall time also counts other processes, the CPU figures and their
// ratio (x-parse) say more.
func BenchmarkValidateProbes(b *testing.B) {
	useFakeKinds(b)
	for _, mult := range []int{1, 4, 16} {
		n := 10_000 * mult
		data := probesScenario(n)
		b.Run(fmt.Sprintf("%dx-%dprobes", mult, n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var total, cpu, floor, floorCPU, index time.Duration
			for b.Loop() {
				start, cpu0 := time.Now(), cpuTime()
				s, err := Parse(context.Background(), "many.toml", data, nil)
				if err != nil {
					b.Fatal(err)
				}
				total, cpu = total+time.Since(start), cpu+cpuTime()-cpu0
				// What the first error's position adds (a valid file
				// never asks for one).
				start = time.Now()
				if p := s.Pos.Lookup(fmt.Sprintf("probe[%d].url", n-1)); p.Line < 2 {
					b.Fatalf("last probe's url at %v", p)
				}
				index += time.Since(start)
				start, cpu0 = time.Now(), cpuTime()
				var top map[string]any
				if _, err := toml.Decode(string(data), &top); err != nil {
					b.Fatal(err)
				}
				floor, floorCPU = floor+time.Since(start), floorCPU+cpuTime()-cpu0
			}
			perFile := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/float64(n), "ns/probe")
			b.ReportMetric(perFile(total), "ms/file")
			// CPU time: all threads, the index's and the GC's included.
			b.ReportMetric(perFile(cpu), "cpu-ms/file")
			b.ReportMetric(perFile(floor), "parse-ms/file")
			b.ReportMetric(perFile(floorCPU), "parse-cpu-ms/file")
			b.ReportMetric(float64(cpu)/float64(floorCPU), "x-parse")
			b.ReportMetric(float64(len(data))/1e6, "MB")
			b.ReportMetric(perFile(index), "index-ms/file")
			b.Logf("%2dx %6d probes %5.1f MB: %6.0f ms (%5.0f cpu-ms), BurntSushi's parse alone %6.0f ms (%5.0f cpu-ms), %5.1f µs/probe; the position index, built at the first error, %4.0f ms more",
				mult, n, float64(len(data))/1e6, perFile(total), perFile(cpu), perFile(floor), perFile(floorCPU), perFile(total)*1000/float64(n), perFile(index))
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
