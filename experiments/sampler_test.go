package experiments

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/chaosctl/chaosctl/probes"
)

type funcProber func(ctx context.Context) probes.Sample

func (f funcProber) Probe(ctx context.Context) probes.Sample { return f(ctx) }

func TestSampleRecordsEveryAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		p := funcProber(func(ctx context.Context) probes.Sample {
			calls.Add(1)
			_, ok := ctx.Deadline()
			return probes.Sample{Time: time.Now(), OK: ok}
		})
		rec := &recorder{}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		sample(ctx, "p", p, 10*time.Millisecond, time.Second, rec)

		ss := rec.snapshot()
		assert.NotEmpty(t, ss)
		// Every attempt is recorded, but those that the end of the run cut.
		assert.LessOrEqual(t, len(ss), int(calls.Load()))
		assert.GreaterOrEqual(t, len(ss), int(calls.Load())-2)
		for _, s := range ss {
			assert.Equal(t, "p", s.Probe)
			assert.True(t, s.OK, "each attempt has a deadline")
		}
	})
}

// A target that never answers gets overlapping attempts, at most
// maxInFlight at once, and attempts cut by the end of the run are dropped.
func TestSampleBoundsOverlapAndDropsCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var inFlight, peak, calls atomic.Int32
		p := funcProber(func(ctx context.Context) probes.Sample {
			calls.Add(1)
			n := inFlight.Add(1)
			for {
				old := peak.Load()
				if n <= old || peak.CompareAndSwap(old, n) {
					break
				}
			}
			<-ctx.Done()
			inFlight.Add(-1)
			return probes.Sample{Time: time.Now(), Err: "hung"}
		})
		rec := &recorder{}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for peak.Load() < maxInFlight {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond) // ticks with every slot busy
			cancel()
		}()
		sample(ctx, "p", p, time.Millisecond, time.Hour, rec)

		assert.Equal(t, int32(maxInFlight), peak.Load())
		assert.Equal(t, int32(maxInFlight), calls.Load(), "ticks with every slot busy are skipped")
		assert.Zero(t, inFlight.Load(), "sample returns after its attempts")
		assert.Zero(t, rec.n, "attempts cut by the end of the run say nothing about the target")
	})
}
